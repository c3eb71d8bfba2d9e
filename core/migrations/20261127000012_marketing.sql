-- The portal's marketing blocks: the marketer's draft, every published
-- version (roll back to any), and the photos, re-encoded at a few widths.
CREATE TABLE marketing_draft (
    k        TEXT PRIMARY KEY,
    content  TEXT NOT NULL
);

CREATE TABLE marketing_versions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    published_at  INTEGER NOT NULL,
    published_by  TEXT    NOT NULL,
    note          TEXT    NOT NULL DEFAULT '',
    content       TEXT    NOT NULL
);

CREATE TABLE marketing_images (
    id      TEXT    NOT NULL,
    width   INTEGER NOT NULL,
    bytes   BLOB    NOT NULL,
    PRIMARY KEY (id, width)
);
