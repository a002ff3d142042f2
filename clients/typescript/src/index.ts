/**
 * @sophsapp/client — a typed client for the sophsapp API (RealWorld
 * Conduit).
 *
 * The types in ./schema.ts are generated from api/openapi.yaml by
 * openapi-typescript (`go generate ./...` at the repository root); the
 * runtime is openapi-fetch, a thin wrapper around `fetch` that checks paths,
 * parameters, bodies and responses against those types at compile time.
 *
 * ```ts
 * const api = createClient({ baseUrl: "https://api.example.com" });
 * const { data, error } = await api.GET("/api/articles", { params: { query: { tag: "go" } } });
 * ```
 */
import createFetchClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

/** Every schema of the spec, by name. */
export type Schemas = components["schemas"];
export type User = Schemas["User"];
export type Profile = Schemas["Profile"];
export type Article = Schemas["Article"];
export type ArticlePreview = Schemas["ArticlePreview"];
export type Comment = Schemas["Comment"];
export type NewUser = Schemas["NewUser"];
export type LoginUser = Schemas["LoginUser"];
export type UpdateUser = Schemas["UpdateUser"];
export type NewArticle = Schemas["NewArticle"];
export type UpdateArticle = Schemas["UpdateArticle"];
export type NewComment = Schemas["NewComment"];
/** The body of every error: `{"errors":{"body":["message", ...]}}`. */
export type ErrorBody = Schemas["GenericErrorModel"];

/** A client for every operation of the API. */
export type SophsappClient = Client<paths>;

/** A token, or a function that returns the current one (none: anonymous). */
export type TokenSource = string | (() => string | null | undefined);

export interface Options extends ClientOptions {
  /**
   * Where the API is, without `/api` (the paths start with it), e.g.
   * `https://api.example.com` or `http://127.0.0.1:5000`.
   */
  baseUrl: string;
  /** Sent as `Authorization: Token <jwt>` on every request. */
  token?: TokenSource;
}

/** Returns a client for the API at options.baseUrl. */
export function createClient(options: Options): SophsappClient {
  const { token, ...rest } = options;
  const client = createFetchClient<paths>(rest);
  if (token !== undefined) {
    client.use(tokenAuth(token));
  }
  return client;
}

/**
 * A middleware that sends `Authorization: Token <jwt>` unless the request
 * already carries an Authorization header. `createClient({ token })` uses
 * it; add it yourself with `client.use(tokenAuth(...))`.
 */
export function tokenAuth(token: TokenSource): Middleware {
  return {
    onRequest({ request }) {
      const value = typeof token === "function" ? token() : token;
      if (value && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Token ${value}`);
      }
      return request;
    },
  };
}

/** The messages of an error body, or [] when there is none. */
export function errorMessages(error: ErrorBody | undefined | null): string[] {
  return error?.errors?.body ?? [];
}
