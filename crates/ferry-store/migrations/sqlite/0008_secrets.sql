-- Ferry secrets: named values that builds read (project variables of kind
-- Secret, a buildspec's parameter-store and secrets-manager entries) and
-- the shared secrets of build webhooks. The value is always sealed with
-- the store's secrets key (AES-256-GCM, the row's name as associated data):
-- the store refuses to write one without a key, so no plain text is ever here.
CREATE TABLE secrets (
    name        TEXT    NOT NULL PRIMARY KEY,
    sealed      TEXT    NOT NULL,
    description TEXT    NOT NULL,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL
) STRICT;
