-- History database fixture: schema version 2, with data.
-- Loaded into a fresh file by tests/engine/history/test_history_migration.cpp, which opens it
-- with the store and checks the upgrade. The DDL is exactly what migration steps 1 and 2 create.
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
, folder TEXT NOT NULL DEFAULT '');
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
, template_hash TEXT NOT NULL DEFAULT '', ttft_ms REAL, prefill_tps REAL, decode_tps REAL);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE INDEX messages_by_parent ON messages (parent_id);
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX conversations_by_trash_time ON conversations (trashed_at) WHERE trashed_at IS NOT NULL;
CREATE TABLE models (
  id              INTEGER PRIMARY KEY,
  path            TEXT    NOT NULL UNIQUE,
  name            TEXT    NOT NULL DEFAULT '',
  format          TEXT    NOT NULL DEFAULT '',
  architecture    TEXT    NOT NULL DEFAULT '',
  quantization    TEXT    NOT NULL DEFAULT '',
  bits_per_weight REAL,
  parameter_count INTEGER,
  context_length  INTEGER,
  size_bytes      INTEGER,
  info_json       TEXT    NOT NULL DEFAULT '{}',
  added_at        INTEGER NOT NULL,
  last_used_at    INTEGER
);
CREATE VIEW message_fts_source AS
  SELECT id, content FROM messages WHERE status <> 'streaming';
CREATE VIRTUAL TABLE message_fts USING fts5 (
  content, content = 'message_fts_source', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER message_fts_insert AFTER INSERT ON messages WHEN new.status <> 'streaming' BEGIN
  INSERT INTO message_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER message_fts_delete AFTER DELETE ON messages WHEN old.status <> 'streaming' BEGIN
  INSERT INTO message_fts (message_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER message_fts_update_old AFTER UPDATE OF content, status ON messages
  WHEN old.status <> 'streaming' BEGIN
  INSERT INTO message_fts (message_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER message_fts_update_new AFTER UPDATE OF content, status ON messages
  WHEN new.status <> 'streaming' BEGIN
  INSERT INTO message_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE VIRTUAL TABLE conversation_fts USING fts5 (
  title, content = 'conversations', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER conversation_fts_insert AFTER INSERT ON conversations BEGIN
  INSERT INTO conversation_fts (rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER conversation_fts_delete AFTER DELETE ON conversations BEGIN
  INSERT INTO conversation_fts (conversation_fts, rowid, title) VALUES ('delete', old.id, old.title);
END;
CREATE TRIGGER conversation_fts_update AFTER UPDATE OF title ON conversations BEGIN
  INSERT INTO conversation_fts (conversation_fts, rowid, title) VALUES ('delete', old.id, old.title);
  INSERT INTO conversation_fts (rowid, title) VALUES (new.id, new.title);
END;

-- Data as schema version 2 wrote it: the version-1 shapes (a regenerated reply with two sibling
-- branches, the second selected; a trashed conversation; a reply still streaming when the app
-- died) plus the columns version 2 added (folder, template hash, timings) and the model library.
INSERT INTO conversations (id, title, created_at, updated_at, pinned, system_prompt, model_ref, settings_json,
                           trashed_at, selected_root_id, folder) VALUES
  (1, 'Sourdough starter', 1700000000000, 1700000300000, 1, 'You are a baker.',
   'Mistral-7B-Instruct-v0.3-exl2-5.0bpw', '{"temperature":0.8}', NULL, 1, 'Kitchen'),
  (2, 'Old draft', 1700000400000, 1700000400000, 0, '', '', '{}', 1700000500000, 6, ''),
  (3, 'Crashed mid-reply', 1700000600000, 1700000600000, 0, '', '', '{}', NULL, 7, 'Stories');
INSERT INTO messages (id, conversation_id, parent_id, selected_child_id, role, content, reasoning, status, error,
                      model_id, quantization, sampler_json, prompt_tokens, completion_tokens, created_at,
                      updated_at, template_hash, ttft_ms, prefill_tps, decode_tps) VALUES
  (1, 1, NULL, 3, 'user', 'How often should I feed my starter?', '', 'complete', '', '', '', '{}',
   NULL, NULL, 1700000000000, 1700000000000, '', NULL, NULL, NULL),
  (2, 1, 1, NULL, 'assistant', 'Once a day at room temperature.', '', 'complete', '',
   'Mistral-7B-Instruct-v0.3', 'exl2 5.0bpw', '{"temperature":0.8}', 20, 8, 1700000100000, 1700000100000,
   '9f2c41d0', 31.5, 2150.0, 118.25),
  (3, 1, 1, 4, 'assistant', 'Twice a day when it is warm; once a week if it lives in the fridge.',
   'It depends on temperature.', 'complete', '', 'Mistral-7B-Instruct-v0.3', 'exl2 5.0bpw',
   '{"temperature":0.8}', 20, 17, 1700000200000, 1700000200000, '9f2c41d0', 29.0, 2230.5, 121.0),
  (4, 1, 3, 5, 'user', 'And the flour ratio?', '', 'complete', '', '', '', '{}', NULL, NULL,
   1700000250000, 1700000250000, '', NULL, NULL, NULL),
  (5, 1, 4, NULL, 'assistant', 'Equal weights of flour and water (100% hydration).', '', 'complete', '',
   'Mistral-7B-Instruct-v0.3', 'exl2 5.0bpw', '{"temperature":0.8}', 40, 12, 1700000300000, 1700000300000,
   '9f2c41d0', 35.25, 2080.0, 117.5),
  (6, 2, NULL, NULL, 'user', 'draft question', '', 'complete', '', '', '', '{}', NULL, NULL,
   1700000400000, 1700000400000, '', NULL, NULL, NULL),
  (7, 3, NULL, 8, 'user', 'Tell me a long story', '', 'complete', '', '', '', '{}', NULL, NULL,
   1700000600000, 1700000600000, '', NULL, NULL, NULL),
  (8, 3, 7, NULL, 'assistant', 'Once upon a time', '', 'streaming', '', 'Mistral-7B-Instruct-v0.3',
   'exl2 5.0bpw', '{}', NULL, NULL, 1700000610000, 1700000610000, '9f2c41d0', 40.0, 1990.0, NULL);
INSERT INTO models (id, path, name, format, architecture, quantization, bits_per_weight, parameter_count,
                    context_length, size_bytes, info_json, added_at, last_used_at) VALUES
  (1, '/home/user/models/Mistral-7B-Instruct-v0.3-exl2-5.0bpw', 'Mistral-7B-Instruct-v0.3', 'exl2',
   'MistralForCausalLM', 'exl2 5.0bpw', 5.0, 7248023552, 32768, 4703010816, '{"head_bits":6}',
   1700000000000, 1700000600000);
INSERT INTO settings VALUES ('trash_retention_days', '0');
INSERT INTO message_fts (message_fts) VALUES ('rebuild');
INSERT INTO conversation_fts (conversation_fts) VALUES ('rebuild');
PRAGMA user_version = 2;
