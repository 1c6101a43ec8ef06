-- A database as written by a version-1 build of PersonalOS (schema of
-- migration 1 in src/store/migrations.c), with data, for tests/api/test_migration.py.
-- login: legacy@example.org old-build password

CREATE TABLE users ( id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, full_name TEXT, avatar_url TEXT, privacy_tier TEXT NOT NULL DEFAULT 'local', plan TEXT NOT NULL DEFAULT 'free', persona TEXT NOT NULL DEFAULT '{}', settings TEXT NOT NULL DEFAULT '{}', memory_count INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, last_login_at INTEGER);
CREATE TABLE server_keys ( name TEXT PRIMARY KEY, value BLOB NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE sessions ( id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, created_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE refresh_tokens ( hash BLOB PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER) WITHOUT ROWID;
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
CREATE TABLE memories ( seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, content TEXT NOT NULL, type TEXT NOT NULL, layer TEXT NOT NULL, source TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, last_accessed_at INTEGER, parent_memory_id TEXT, tags TEXT NOT NULL DEFAULT '[]', importance_score REAL NOT NULL DEFAULT 0.5, access_count INTEGER NOT NULL DEFAULT 0, is_encrypted INTEGER NOT NULL DEFAULT 0, shared_with TEXT NOT NULL DEFAULT '[]', metadata TEXT NOT NULL DEFAULT '{}', attachments TEXT NOT NULL DEFAULT '[]', external_id TEXT, content_hash BLOB);
CREATE INDEX memories_user_created ON memories(user_id, created_at);
CREATE TABLE memory_relationships ( memory_id TEXT NOT NULL, related_memory_id TEXT NOT NULL, relationship_type TEXT NOT NULL, strength REAL NOT NULL DEFAULT 1.0, created_at INTEGER NOT NULL, PRIMARY KEY (memory_id, related_memory_id, relationship_type)) WITHOUT ROWID;
CREATE INDEX memory_relationships_related ON memory_relationships(related_memory_id);
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
INSERT INTO schema_migrations VALUES (1, 'core tables', 1767225600000000);
INSERT INTO users (id, email, password_hash, full_name, privacy_tier, plan, persona, settings, memory_count, created_at) VALUES ('7c9e6679-7425-40de-944b-e07fc1f90ae7', 'legacy@example.org', '$argon2id$v=19$m=65536,t=2,p=1$zQyv3rY/3JpAcueEaQIHOA$8shL0XseRaIUk/HIgicsnHOWpWUFju8PcpOCL8LHKJA', 'Legacy User', 'local', 'free', '{}', '{}', 3, 1767225600000000);
INSERT INTO memories (id, user_id, content, type, layer, source, created_at, updated_at, tags, importance_score, metadata) VALUES ('0f8fad5b-d9cb-469f-a165-70867728950e', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'Bought train tickets to Lisbon for the conference', 'note', 'active', 'api', 1767312000000000, 1767312000000000, '["travel","work"]', 0.5, '{"legacy":true}');
INSERT INTO memories (id, user_id, content, type, layer, source, created_at, updated_at, tags, importance_score, metadata) VALUES ('7c9e6679-7425-40de-944b-e07fc1f90ae8', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'Call the dentist about the crown', 'action', 'active', 'api', 1767398400000000, 1767398400000000, '["health"]', 0.5, '{"legacy":true}');
INSERT INTO memories (id, user_id, content, type, layer, source, created_at, updated_at, tags, importance_score, metadata) VALUES ('16fd2706-8baf-433b-82eb-8c7fada847da', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'Maria recommended Project Hail Mary', 'note', 'active', 'api', 1767484800000000, 1767484800000000, '["books","travel"]', 0.5, '{"legacy":true}');
INSERT INTO memory_relationships VALUES ('16fd2706-8baf-433b-82eb-8c7fada847da', '0f8fad5b-d9cb-469f-a165-70867728950e', 'related', 1.0, 1767484800000000);
