-- +goose Up
-- The Conduit domain: users and follows, articles with ordered tags,
-- favorites and comments. Length limits mirror api/openapi.yaml, so a request
-- that passes validation also fits the table.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text        NOT NULL CONSTRAINT users_username_length CHECK (char_length(username) BETWEEN 1 AND 64),
    email         text        NOT NULL CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 254),
    password_hash text        NOT NULL,
    bio           text        NOT NULL DEFAULT '' CONSTRAINT users_bio_length CHECK (char_length(bio) <= 2000),
    image         text        NOT NULL DEFAULT '' CONSTRAINT users_image_length CHECK (char_length(image) <= 2048),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Constraint names are part of the contract with the error mapper: a unique
-- violation on users_email_key reads "email has already been taken".
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE follows (
    follower_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id),
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_followee_idx ON follows (followee_id);

CREATE TABLE articles (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug            text        NOT NULL CONSTRAINT articles_slug_length CHECK (char_length(slug) BETWEEN 1 AND 300),
    author_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           text        NOT NULL CONSTRAINT articles_title_length CHECK (char_length(title) BETWEEN 1 AND 255),
    description     text        NOT NULL CONSTRAINT articles_description_length CHECK (char_length(description) <= 1000),
    body            text        NOT NULL CONSTRAINT articles_body_length CHECK (char_length(body) <= 100000),
    favorites_count integer     NOT NULL DEFAULT 0 CONSTRAINT articles_favorites_count_positive CHECK (favorites_count >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX articles_slug_key ON articles (slug);
-- Lists are newest first; id breaks ties so pages are stable.
CREATE INDEX articles_created_idx ON articles (created_at DESC, id DESC);
CREATE INDEX articles_author_created_idx ON articles (author_id, created_at DESC, id DESC);

CREATE TABLE tags (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CONSTRAINT tags_name_length CHECK (char_length(name) BETWEEN 1 AND 64)
);
CREATE UNIQUE INDEX tags_name_key ON tags (name);

-- position keeps tagList in the order the author gave it.
CREATE TABLE article_tags (
    article_id bigint   NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    tag_id     bigint   NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    position   smallint NOT NULL,
    PRIMARY KEY (article_id, tag_id)
);
CREATE INDEX article_tags_tag_idx ON article_tags (tag_id, article_id);

CREATE TABLE favorites (
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    article_id bigint      NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, article_id)
);
CREATE INDEX favorites_article_idx ON favorites (article_id);

CREATE TABLE comments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_id bigint      NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    author_id  bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       text        NOT NULL CONSTRAINT comments_body_length CHECK (char_length(body) BETWEEN 1 AND 20000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_article_idx ON comments (article_id, created_at DESC, id DESC);
CREATE INDEX comments_author_idx ON comments (author_id);
