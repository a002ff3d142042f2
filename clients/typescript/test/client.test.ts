// Drives a live sophsapp server (SOPHSAPP_URL) through the package, as a
// frontend would. Run by clients/typescript/client_test.go in `make test`.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { createClient, errorMessages, type Article, type ErrorBody, type User } from "@sophsapp/client";

const baseUrl = process.env.SOPHSAPP_URL;
if (!baseUrl) {
  throw new Error("SOPHSAPP_URL is not set: run this through `go test ./clients/typescript/`");
}

/** Compile-time checks: A and B accept the same values; T is not any. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type IsAny<T> = 0 extends 1 & T ? true : false;

const suffix = randomBytes(4).toString("hex");

test("a frontend's session: register, log in, write, list, favorite, comment", async () => {
  const anonymous = createClient({ baseUrl });
  const username = `jake${suffix}`;
  const email = `${username}@example.com`;
  const password = "jakejakejake";

  const registered = await anonymous.POST("/api/users", { body: { user: { username, email, password } } });
  assert.equal(registered.response.status, 201);
  assert.ok(registered.data, "registration returns the user");
  const newUser: User = registered.data.user;
  assert.equal(newUser.username, username);
  assert.equal(newUser.bio, null);

  const loggedIn = await anonymous.POST("/api/users/login", { body: { user: { email, password } } });
  assert.equal(loggedIn.response.status, 200);
  assert.ok(loggedIn.data);
  let token: string | undefined = loggedIn.data.user.token;
  assert.ok(token.length > 20);

  // The token is read on every request, as an app's store would hold it.
  const api = createClient({ baseUrl, token: () => token });
  const me = await api.GET("/api/user");
  assert.equal(me.data?.user.email, email);

  // A settings form that leaves the password blank.
  const settings = await api.PUT("/api/user", { body: { user: { bio: "I work at statefarm", password: "" } } });
  assert.equal(settings.response.status, 200, JSON.stringify(settings.error));
  assert.equal(settings.data?.user.bio, "I work at statefarm");

  const created = await api.POST("/api/articles", {
    body: {
      article: {
        title: `How to train your dragon ${suffix}`,
        description: "Ever wonder how?",
        body: "You have to believe",
        tagList: ["training", "dragons", `t${suffix}`],
      },
    },
  });
  assert.equal(created.response.status, 201, JSON.stringify(created.error));
  assert.ok(created.data);
  const article: Article = created.data.article;
  assert.deepEqual(article.tagList, ["dragons", `t${suffix}`, "training"], "tagList comes back sorted");
  assert.equal(article.author.username, username);
  const slug = article.slug;

  const byTag = await anonymous.GET("/api/articles", { params: { query: { tag: `t${suffix}`, author: username, limit: 5, offset: 0 } } });
  assert.equal(byTag.response.status, 200);
  assert.equal(byTag.data?.articlesCount, 1);
  assert.equal(byTag.data?.articles[0]?.slug, slug);
  assert.equal(byTag.data?.articles[0]?.favorited, false);

  const favorited = await api.POST("/api/articles/{slug}/favorite", { params: { path: { slug } } });
  assert.equal(favorited.response.status, 200);
  assert.equal(favorited.data?.article.favorited, true);
  assert.equal(favorited.data?.article.favoritesCount, 1);

  const favorites = await api.GET("/api/articles", { params: { query: { favorited: username } } });
  assert.deepEqual(
    favorites.data?.articles.map((a) => a.slug),
    [slug],
  );

  const commented = await api.POST("/api/articles/{slug}/comments", {
    params: { path: { slug } },
    body: { comment: { body: "Thank you so much!" } },
  });
  assert.equal(commented.response.status, 200);
  const commentId = commented.data?.comment.id;
  assert.equal(typeof commentId, "number");

  const comments = await anonymous.GET("/api/articles/{slug}/comments", { params: { path: { slug } } });
  assert.deepEqual(
    comments.data?.comments.map((c) => [c.id, c.body, c.author.username]),
    [[commentId, "Thank you so much!", username]],
  );

  // A trailing slash, as some frontends write paths, is the same route.
  const viaSlash = await fetch(`${baseUrl}/api/articles/${encodeURIComponent(slug)}/`);
  assert.equal(viaSlash.status, 200);

  token = undefined;
  const anonymousAgain = await api.GET("/api/user");
  assert.equal(anonymousAgain.response.status, 401);
});

test("a 422 carries a typed error body", async () => {
  const api = createClient({ baseUrl });
  const { data, error, response } = await api.POST("/api/users", {
    body: { user: { username: `short${suffix}`, email: "not-an-email", password: "short" } },
  });
  // The error is the spec's GenericErrorModel, neither unknown nor any.
  const typed: Same<typeof error, ErrorBody | undefined> = true;
  const notAny: IsAny<typeof error> = false;
  assert.ok(typed && !notAny);
  assert.equal(response.status, 422);
  assert.equal(data, undefined);
  assert.ok(error);
  const messages: string[] = error.errors.body;
  assert.ok(messages.includes("password must be 8 to 72 characters"), messages.join("; "));
  assert.ok(messages.includes("email is invalid"), messages.join("; "));
  assert.deepEqual(errorMessages(error), messages);
  assert.deepEqual(errorMessages(undefined), []);
  assert.ok(response.headers.get("X-Request-ID"));
});
