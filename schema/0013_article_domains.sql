-- +goose Up
-- The length limits of an article's texts, and the floor of its favorite
-- count, move from CHECK constraints of articles to domains, the column
-- types. The rule each states is the same; what changes is when
-- PostgreSQL evaluates it.
--
-- A table's CHECK constraints are all evaluated on every row a statement
-- writes, and read back from the catalog's text form for each statement
-- that writes it: every favorite's counter update of articles parsed the
-- five of them (3.7 KB of node text). With the users row's, which 0012
-- takes out of that path, the parsing was 9 % of PostgreSQL's CPU in a
-- profile of the favorite mix (docs/PERFORMANCE.md). A domain's check runs only when a
-- value is stored in a column of that type, from a form PostgreSQL keeps
-- in memory per session: the counter update checks the count alone,
-- creating or editing an article checks the texts it stores.
--
-- The domains are made without their checks first: a column's type then
-- changes without rewriting the table (only its indexes are looked at),
-- and adding each check afterwards validates the rows already there.
-- Clients see the same values: a domain column is sent as its base type.

CREATE DOMAIN article_slug AS text;
CREATE DOMAIN article_title AS text;
CREATE DOMAIN article_description AS text;
CREATE DOMAIN article_body AS text;
CREATE DOMAIN favorite_count AS integer;

ALTER TABLE articles
    ALTER COLUMN slug TYPE article_slug,
    ALTER COLUMN title TYPE article_title,
    ALTER COLUMN description TYPE article_description,
    ALTER COLUMN body TYPE article_body,
    ALTER COLUMN favorites_count TYPE favorite_count,
    DROP CONSTRAINT articles_slug_length,
    DROP CONSTRAINT articles_title_length,
    DROP CONSTRAINT articles_description_length,
    DROP CONSTRAINT articles_body_length,
    DROP CONSTRAINT articles_favorites_count_positive;

ALTER DOMAIN article_slug ADD CONSTRAINT article_slug_length CHECK (char_length(VALUE) BETWEEN 1 AND 300);
ALTER DOMAIN article_title ADD CONSTRAINT article_title_length CHECK (char_length(VALUE) BETWEEN 1 AND 255);
ALTER DOMAIN article_description ADD CONSTRAINT article_description_length CHECK (char_length(VALUE) <= 1000);
ALTER DOMAIN article_body ADD CONSTRAINT article_body_length CHECK (char_length(VALUE) <= 100000);
ALTER DOMAIN favorite_count ADD CONSTRAINT favorite_count_positive CHECK (VALUE >= 0);
