-- +goose Up
-- Uploaded files. The bytes are stored as rows of upload_chunks (256 KiB
-- each by default) rather than as large objects: a chunk is read with one
-- short query, so a download holds a database connection only while it
-- fetches the next chunk, never for the whole transfer; deleting an upload
-- (or its user) removes its chunks by cascade, so no path can leave bytes
-- behind; and the rows travel with every kind of backup and replica.
-- README.md ("Uploads") has the measurements behind the choice.
--
-- An upload is written in one transaction: chunks first, as the request
-- body arrives, then the uploads row (which is why the chunks' foreign key
-- is checked at commit). An aborted upload leaves nothing.

CREATE TABLE uploads (
    id           uuid        PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content_type text        NOT NULL CONSTRAINT uploads_content_type_length CHECK (char_length(content_type) BETWEEN 1 AND 255),
    size         bigint      NOT NULL CONSTRAINT uploads_size_positive CHECK (size > 0),
    sha256       bytea       NOT NULL CONSTRAINT uploads_sha256_length CHECK (octet_length(sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- A user's uploads, newest first; id breaks ties so pages are stable.
CREATE INDEX uploads_user_created_idx ON uploads (user_id, created_at DESC, id DESC);

-- start is the offset of the chunk's first byte in the file, so the chunk
-- holding any byte is one index lookup, whatever size the chunks have.
CREATE TABLE upload_chunks (
    upload_id uuid   NOT NULL REFERENCES uploads (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    start     bigint NOT NULL CONSTRAINT upload_chunks_start_positive CHECK (start >= 0),
    data      bytea  NOT NULL CONSTRAINT upload_chunks_data_nonempty CHECK (octet_length(data) > 0),
    PRIMARY KEY (upload_id, start)
);
-- Uploads are images and PDFs, already compressed: store them out of line
-- without trying to compress them again.
ALTER TABLE upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- What each user stores, for the quota and the list's total. Kept by the
-- triggers below in the writing transaction, like the article counters.
CREATE TABLE upload_usage (
    user_id bigint  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    uploads integer NOT NULL DEFAULT 0 CONSTRAINT upload_usage_uploads_positive CHECK (uploads >= 0),
    bytes   bigint  NOT NULL DEFAULT 0 CONSTRAINT upload_usage_bytes_positive CHECK (bytes >= 0)
);

-- +goose StatementBegin
CREATE FUNCTION count_upload_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO upload_usage AS u (user_id, uploads, bytes) VALUES (NEW.user_id, 1, NEW.size)
        ON CONFLICT (user_id) DO UPDATE SET uploads = u.uploads + 1, bytes = u.bytes + NEW.size;
    ELSE
        -- A plain UPDATE: when the user is being deleted, the usage row may
        -- already be gone, and must not come back.
        UPDATE upload_usage SET uploads = uploads - 1, bytes = bytes - OLD.size WHERE user_id = OLD.user_id;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER uploads_count_usage AFTER INSERT OR DELETE ON uploads
    FOR EACH ROW EXECUTE FUNCTION count_upload_usage();
