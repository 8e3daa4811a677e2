// The official `openai` npm client against `nibble-cli serve` on the demo model: model listing,
// a non-streamed and a streamed chat completion, and a completion. Greedy replies are checked
// against the HF transformers reference (tests/data/refs/dictlm-16m/greedy.json).
// Usage: node openai_client.mjs BASE_URL REFS_JSON
import fs from 'node:fs';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [baseURL, refsPath] = process.argv.slice(2);
const refs = JSON.parse(fs.readFileSync(refsPath, 'utf8'));
const reply = (r) => r.greedy_text.slice(0, r.greedy_text.indexOf('<|im_end|>'));
const system = 'You are a helpful dictionary assistant.';
const client = new OpenAI({ baseURL, apiKey: 'test-key', maxRetries: 0, timeout: 120000 });

const models = await client.models.list();
assert.deepEqual(models.data.map((m) => m.id), ['dictlm-16m']);

const chat = await client.chat.completions.create({
  model: 'dictlm-16m',
  temperature: 0,
  messages: [{ role: 'system', content: system }, { role: 'user', content: refs[0].question }],
});
assert.equal(chat.choices[0].message.content, reply(refs[0]));
assert.equal(chat.choices[0].finish_reason, 'stop');
assert.equal(chat.usage.prompt_tokens, refs[0].prompt_ids.length);

const stream = await client.chat.completions.create({
  model: 'dictlm-16m',
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
  messages: [{ role: 'system', content: system }, { role: 'user', content: refs[1].question }],
});
let text = '';
let chunks = 0;
let usage = null;
let finish = null;
for await (const chunk of stream) {
  chunks += 1;
  if (chunk.usage) usage = chunk.usage;
  if (chunk.choices.length > 0) {
    text += chunk.choices[0].delta.content ?? '';
    finish = chunk.choices[0].finish_reason ?? finish;
  }
}
assert.equal(text, reply(refs[1]));
assert.equal(finish, 'stop');
assert.ok(chunks > 3, `only ${chunks} chunks`);
assert.ok(usage && usage.completion_tokens > 0);

const completion = await client.completions.create({
  model: 'dictlm-16m',
  prompt: refs[2].prompt_text,
  temperature: 0,
  max_tokens: 64,
});
assert.equal(completion.choices[0].text, reply(refs[2]));

let rejected = null;
try {
  await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
} catch (e) {
  rejected = e;
}
assert.ok(rejected instanceof OpenAI.NotFoundError, `expected a 404 error, got ${rejected}`);

console.log(`openai client: models, chat (${chat.usage.completion_tokens} tokens), stream (${chunks} chunks), completion: ok`);
