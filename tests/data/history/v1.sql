-- History database fixture: schema version 1 (the first shipped schema), with data.
-- Loaded into a fresh file by tests/engine/history/test_history_migration.cpp, which opens it
-- with the store and checks the upgrade. The DDL is exactly what migration step 1 creates.
CREATE TABLE conversations (
  id               INTEGER PRIMARY KEY,
  title            TEXT    NOT NULL DEFAULT '',
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  pinned           INTEGER NOT NULL DEFAULT 0,
  system_prompt    TEXT    NOT NULL DEFAULT '',
  model_ref        TEXT    NOT NULL DEFAULT '',
  settings_json    TEXT    NOT NULL DEFAULT '{}',
  trashed_at       INTEGER,
  selected_root_id INTEGER
);
CREATE INDEX conversations_by_recency ON conversations (trashed_at, pinned, updated_at, id);
CREATE TABLE messages (
  id                INTEGER PRIMARY KEY,
  conversation_id   INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  parent_id         INTEGER REFERENCES messages (id) ON DELETE CASCADE,
  selected_child_id INTEGER,
  role              TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
  content           TEXT    NOT NULL DEFAULT '',
  reasoning         TEXT    NOT NULL DEFAULT '',
  status            TEXT    NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('complete', 'streaming', 'interrupted', 'error')),
  error             TEXT    NOT NULL DEFAULT '',
  model_id          TEXT    NOT NULL DEFAULT '',
  quantization      TEXT    NOT NULL DEFAULT '',
  sampler_json      TEXT    NOT NULL DEFAULT '{}',
  prompt_tokens     INTEGER,
  completion_tokens INTEGER,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE INDEX messages_by_parent ON messages (parent_id);
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- Data as Nibble's first schema wrote it: a conversation with a regenerated reply (two sibling
-- branches, the second selected), a trashed conversation, and a reply that was still streaming
-- when the app died.
INSERT INTO conversations VALUES
  (1, 'Sourdough starter', 1700000000000, 1700000300000, 1, 'You are a baker.',
   'Mistral-7B-Instruct-v0.3-exl2-5.0bpw', '{"temperature":0.8}', NULL, 1),
  (2, 'Old draft', 1700000400000, 1700000400000, 0, '', '', '{}', 1700000500000, 6),
  (3, 'Crashed mid-reply', 1700000600000, 1700000600000, 0, '', '', '{}', NULL, 7);
INSERT INTO messages VALUES
  (1, 1, NULL, 3, 'user', 'How often should I feed my starter?', '', 'complete', '', '', '', '{}',
   NULL, NULL, 1700000000000, 1700000000000),
  (2, 1, 1, NULL, 'assistant', 'Once a day at room temperature.', '', 'complete', '',
   'Mistral-7B-Instruct-v0.3', 'exl2 5.0bpw', '{"temperature":0.8}', 20, 8, 1700000100000, 1700000100000),
  (3, 1, 1, 4, 'assistant', 'Twice a day when it is warm; once a week if it lives in the fridge.',
   'It depends on temperature.', 'complete', '', 'Mistral-7B-Instruct-v0.3', 'exl2 5.0bpw',
   '{"temperature":0.8}', 20, 17, 1700000200000, 1700000200000),
  (4, 1, 3, 5, 'user', 'And the flour ratio?', '', 'complete', '', '', '', '{}', NULL, NULL,
   1700000250000, 1700000250000),
  (5, 1, 4, NULL, 'assistant', 'Equal weights of flour and water (100% hydration).', '', 'complete', '',
   'Mistral-7B-Instruct-v0.3', 'exl2 5.0bpw', '{"temperature":0.8}', 40, 12, 1700000300000, 1700000300000),
  (6, 2, NULL, NULL, 'user', 'draft question', '', 'complete', '', '', '', '{}', NULL, NULL,
   1700000400000, 1700000400000),
  (7, 3, NULL, 8, 'user', 'Tell me a long story', '', 'complete', '', '', '', '{}', NULL, NULL,
   1700000600000, 1700000600000),
  (8, 3, 7, NULL, 'assistant', 'Once upon a time', '', 'streaming', '', 'Mistral-7B-Instruct-v0.3',
   'exl2 5.0bpw', '{}', NULL, NULL, 1700000610000, 1700000610000);
INSERT INTO settings VALUES ('trash_retention_days', '0');
PRAGMA user_version = 1;
