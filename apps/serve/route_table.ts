/**
 * The service's routes in one table, the single source of what it answers: the router takes
 * each path's methods from it (`405` with `Allow`, `OPTIONS`, `HEAD` wherever `GET` is), and
 * `GET /openapi.json` is generated from it. The JSON request body of `POST /v1/score` is decoded
 * with `ScoreJsonBody`, and the answers are typed by the Schemas below, so the description and
 * the code cannot drift apart.
 *
 * @module
 */
import { Schema } from "effect";

/** The JSON body of `POST /v1/score`: base64 images (or `data:` URLs), PNG, JPEG or WebP each. */
export const ScoreJsonBody: Schema.Struct<{ readonly images: Schema.$Array<Schema.String> }> =
  Schema.Struct({ images: Schema.Array(Schema.String) });

/** One image's answer. */
export const ImageResultSchema: Schema.Struct<{
  readonly verdict: Schema.Literals<readonly ["in", "ood", "invalid"]>;
  readonly score: Schema.NullOr<Schema.Finite>;
  readonly isOod: Schema.NullOr<Schema.Boolean>;
  readonly problem: Schema.optionalKey<Schema.String>;
  readonly threshold: Schema.Finite;
  readonly predicted: Schema.Number;
  readonly className: Schema.optionalKey<Schema.String>;
  readonly detectorVersion: Schema.String;
}> = Schema.Struct({
  verdict: Schema.Literals(["in", "ood", "invalid"]),
  score: Schema.NullOr(Schema.Finite),
  isOod: Schema.NullOr(Schema.Boolean),
  problem: Schema.optionalKey(Schema.String),
  threshold: Schema.Finite,
  predicted: Schema.Number,
  className: Schema.optionalKey(Schema.String),
  detectorVersion: Schema.String,
});

/** The answer of `POST /v1/score`. */
export const ScoreAnswerSchema: Schema.Struct<{
  readonly detector: Schema.Struct<
    { readonly version: Schema.String; readonly kind: Schema.String }
  >;
  readonly threshold: Schema.Finite;
  readonly results: Schema.$Array<typeof ImageResultSchema>;
}> = Schema.Struct({
  detector: Schema.Struct({ version: Schema.String, kind: Schema.String }),
  threshold: Schema.Finite,
  results: Schema.Array(ImageResultSchema),
});

/** Every refusal and failure. */
export const ErrorBody: Schema.Struct<
  { readonly code: Schema.String; readonly message: Schema.String }
> = Schema.Struct({ code: Schema.String, message: Schema.String });

/** `/healthz`, `/livez`, `/readyz`. */
export const HealthBody = Schema.Struct({ status: Schema.String, version: Schema.String });

/** One minute of verdicts (`time`: the minute's start, ISO 8601). */
export const DriftBucket = Schema.Struct({
  time: Schema.String,
  in: Schema.Number,
  ood: Schema.Number,
  invalid: Schema.Number,
});

/** `GET /drift`: the OOD share over time since start. */
export const DriftBody = Schema.Struct({
  start: Schema.String,
  windowSeconds: Schema.Number,
  oodShare: Schema.Finite,
  windowVerdicts: Schema.Number,
  bucketSeconds: Schema.Number,
  buckets: Schema.Array(DriftBucket),
});

/** `GET /v1/detector`: metadata, input shape and limits (open-ended settings). */
export const DetectorBody = Schema.Struct({
  version: Schema.String,
  kind: Schema.String,
  modelKey: Schema.String,
  modelKind: Schema.optionalKey(Schema.String),
  threshold: Schema.Finite,
  classNames: Schema.optionalKey(Schema.Array(Schema.String)),
  settings: Schema.Record(Schema.String, Schema.Unknown),
  validation: Schema.Record(Schema.String, Schema.Number),
  histogram: Schema.Struct({
    edges: Schema.Array(Schema.Number),
    id: Schema.Array(Schema.Number),
    ood: Schema.Array(Schema.Number),
  }),
  input: Schema.Struct({ height: Schema.Number, width: Schema.Number, channels: Schema.Number }),
  limits: Schema.Record(Schema.String, Schema.Number),
});

/** What a route takes or answers: a JSON Schema, or a media type with a plain description. */
export type Body = { readonly json: Schema.Top } | {
  readonly media: string;
  readonly text: string;
};

/** One route. */
export interface Route {
  /** The path it answers (`/v1/score`). */
  readonly path: string;
  /** The method it takes (`HEAD` comes with `GET`, `OPTIONS` with every route). */
  readonly method: "GET" | "POST";
  /** One line on what it does (the OpenAPI `summary`). */
  readonly summary: string;
  /** Needs the bearer token when the service has one. */
  readonly token: boolean;
  /** Request bodies by media type (`POST`). */
  readonly request?: Readonly<Record<string, Body>>;
  /** Answers by status. */
  readonly answers: Readonly<
    Record<number, { readonly description: string; readonly body?: Body }>
  >;
}

const json = (schema: Schema.Top): Body => ({ json: schema });
const refused = (description: string) => ({ description, body: json(ErrorBody) });
const image = { media: "application/octet-stream", text: "one PNG, JPEG or WebP image" };

/** Every route the service answers, in the order the OpenAPI document lists them. */
export const ROUTES: ReadonlyArray<Route> = [
  {
    path: "/v1/score",
    method: "POST",
    summary: "Score images: per image a score (higher = more OOD), a verdict and the class.",
    token: true,
    request: {
      "image/png": image,
      "image/jpeg": image,
      "image/webp": image,
      "application/json": json(ScoreJsonBody),
      "application/x-npy": {
        media: "application/octet-stream",
        text: "a .npy batch: uint8, shape (N, H, W) or (N, H, W, C), C = 1 or 3",
      },
    },
    answers: {
      200: { description: "one result per image, in order", body: json(ScoreAnswerSchema) },
      400: refused("empty or malformed body"),
      401: refused("missing or wrong bearer token"),
      408: refused("the body did not arrive in time"),
      413: refused("body, image or image count over the limits"),
      415: refused("unsupported Content-Type"),
      500: refused("the detector failed"),
      503: refused("overloaded, deadline exceeded or shutting down (Retry-After)"),
    },
  },
  {
    path: "/v1/detector",
    method: "GET",
    summary: "The detector's metadata, input shape and limits.",
    token: true,
    answers: { 200: { description: "metadata", body: json(DetectorBody) } },
  },
  {
    path: "/healthz",
    method: "GET",
    summary: "Health: ok, or 503 while draining.",
    token: false,
    answers: {
      200: { description: "serving", body: json(HealthBody) },
      503: refused("shutting down"),
    },
  },
  {
    path: "/livez",
    method: "GET",
    summary: "Liveness: the process is up (200 while draining too).",
    token: false,
    answers: { 200: { description: "alive", body: json(HealthBody) } },
  },
  {
    path: "/readyz",
    method: "GET",
    summary: "Readiness: the model is loaded and the service is not draining.",
    token: false,
    answers: {
      200: { description: "ready", body: json(HealthBody) },
      503: refused("draining"),
    },
  },
  {
    path: "/metrics",
    method: "GET",
    summary: "Prometheus metrics (text exposition format 0.0.4).",
    token: true,
    answers: {
      200: {
        description: "metrics",
        body: { media: "text/plain; version=0.0.4", text: "Prometheus text" },
      },
    },
  },
  {
    path: "/drift",
    method: "GET",
    summary: "The OOD share in the sliding window, and verdicts per minute since start.",
    token: true,
    answers: { 200: { description: "verdicts over time", body: json(DriftBody) } },
  },
  {
    path: "/openapi.json",
    method: "GET",
    summary: "This description (OpenAPI 3.1).",
    token: false,
    answers: { 200: { description: "the OpenAPI document" } },
  },
  ...([
    ["/", "text/html"],
    ["/app.js", "text/javascript"],
    ["/charts.js", "text/javascript"],
    ["/style.css", "text/css"],
  ] as const).map(([path, media]): Route => ({
    path,
    method: "GET",
    summary: "The scoring page.",
    token: false,
    answers: { 200: { description: "a static file", body: { media, text: "the file" } } },
  })),
];

/** The methods `path` answers (`HEAD` with `GET`, always `OPTIONS`); empty for no route. */
export function allowedMethods(path: string): ReadonlyArray<string> {
  const methods = ROUTES.filter((r) => r.path === path).map((r) => r.method);
  if (methods.length === 0) return [];
  return [...methods, ...(methods.includes("GET") ? ["HEAD"] : []), "OPTIONS"];
}

/** The route of `path` and `method` (`HEAD` finds the `GET` route). */
export function findRoute(path: string, method: string): Route | undefined {
  const wanted = method === "HEAD" ? "GET" : method;
  return ROUTES.find((r) => r.path === path && r.method === wanted);
}

const content = (body: Body) =>
  "json" in body
    ? { "application/json": { schema: Schema.toJsonSchemaDocument(body.json).schema } }
    : { [body.media]: { schema: { type: "string", description: body.text } } };

/**
 * The OpenAPI 3.1 document of `ROUTES`.
 *
 * @example
 * ```ts
 * import { openApiDocument, ROUTES } from "./route_table.ts";
 * const doc = openApiDocument("1.0.0");
 * if (Object.keys(doc.paths).length !== new Set(ROUTES.map((r) => r.path)).size) throw new Error();
 * ```
 */
export function openApiDocument(version: string): {
  readonly openapi: string;
  readonly info: { readonly title: string; readonly version: string };
  readonly paths: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly components: unknown;
} {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const operation = {
      summary: route.summary,
      ...(route.token ? { security: [{ bearer: [] }, {}] } : {}),
      parameters: [{
        name: "X-Request-Id",
        in: "header",
        required: false,
        description: "echoed; generated when absent or invalid (1-128 of A-Z a-z 0-9 . _ : -)",
        schema: { type: "string", maxLength: 128 },
      }],
      ...(route.request === undefined ? {} : {
        requestBody: {
          required: true,
          content: Object.fromEntries(
            Object.entries(route.request).map(([media, body]) => [
              media,
              Object.values(content(body))[0],
            ]),
          ),
        },
      }),
      responses: Object.fromEntries(
        Object.entries(route.answers).map(([status, answer]) => [
          status,
          {
            description: answer.description,
            ...(answer.body === undefined ? {} : { content: content(answer.body) }),
          },
        ]),
      ),
    };
    paths[route.path] = { ...paths[route.path], [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: "3.1.0",
    info: { title: "grood scoring service", version },
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    },
  };
}
