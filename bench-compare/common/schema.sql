-- The tables orm's create_all makes for the benchmark models (diesel_bench's
-- schema; the orm binary checks this text against orm's DDL at start).
-- No index besides the primary keys, as in diesel_bench.
CREATE TABLE IF NOT EXISTS "users" (
    "id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "hair_color" TEXT,
    PRIMARY KEY ("id")
);
CREATE TABLE IF NOT EXISTS "posts" (
    "id" INTEGER NOT NULL,
    "user_id" INTEGER NOT NULL,
    "title" TEXT NOT NULL,
    "body" TEXT,
    PRIMARY KEY ("id"),
    FOREIGN KEY("user_id") REFERENCES "users" ("id")
);
CREATE TABLE IF NOT EXISTS "comments" (
    "id" INTEGER NOT NULL,
    "post_id" INTEGER NOT NULL,
    "text" TEXT NOT NULL,
    PRIMARY KEY ("id"),
    FOREIGN KEY("post_id") REFERENCES "posts" ("id")
);
