/**
 * The service under faults, in process over real HTTP on 127.0.0.1 (port 0), with a stand-in
 * detector whose speed and failures the tests choose (class 8 of issue 24, admission control of
 * issue 25): a full queue answers 503 with `Retry-After`, a request past its deadline is refused,
 * a cancelled request is never scored, a non-finite score is an `invalid` verdict and one client's
 * bad image fails nobody else's request, a foreign `Host` is refused, error bodies carry no server
 * path, a client that leaves is counted as `client_disconnected`, and stalled clients are cut by
 * the header, body and idle timeouts. (That a lone request does not wait for the batch window is
 * tested on a test clock in `serve_batcher_test.ts`.)
 */
import assert from "node:assert/strict";
import type { ScoreAnswer } from "../apps/serve/routes.ts";
import type { RunningService } from "../apps/serve/server.ts";
import { waitFor } from "../apps/cluster/loopback.ts";
import { held, png, type Probe, standIn, withService } from "./serve_stand_in.ts";

const jsonOf = async (firsts: ReadonlyArray<number>) => {
  const images = await Promise.all(
    firsts.map(async (f) => btoa(String.fromCharCode(...await png(f)))),
  );
  return JSON.stringify({ images });
};

const post = (s: RunningService, body: string | Uint8Array, init: RequestInit = {}) =>
  fetch(`${s.url}/v1/score`, {
    method: "POST",
    headers: {
      "content-type": typeof body === "string" ? "application/json" : "image/png",
    },
    body: body as BodyInit,
    ...init,
  });

const metricsOf = (s: RunningService) => fetch(`${s.url}/metrics`).then((r) => r.text());
const counter = (text: string, code: string) =>
  Number(new RegExp(`^grood_errors_total\\{code="${code}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);

const queued = (text: string) => Number(/^grood_queued_images (\d+)$/m.exec(text)?.[1] ?? -1);

/** Poll `/metrics` (every 20 ms, at most 30 s) until `holds(text)`; fails naming `what`. */
async function metricsUntil(s: RunningService, what: string, holds: (text: string) => boolean) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await metricsOf(s);
    if (holds(text)) return text;
    if (Date.now() > deadline) throw new Error(`never ${what}:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Open a raw connection and send `text`; returns it. */
async function raw(s: RunningService, text: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  await conn.write(new TextEncoder().encode(text));
  return conn;
}

/** Everything the server sends on `conn` until it closes it, or `null` after `ms`. */
async function readUntilClosed(conn: Deno.Conn, ms: number): Promise<string | null> {
  let text = "";
  const buffer = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buffer).catch(() => null),
      new Promise<"late">((
        resolve,
      ) => (timer = setTimeout(() => resolve("late"), deadline - Date.now()))),
    ]);
    clearTimeout(timer);
    if (n === "late") {
      conn.close();
      return null;
    }
    if (n === null) {
      try {
        conn.close();
      } catch {
        // closed
      }
      return text;
    }
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
}

const half = (s: RunningService, length: number, sent: string) =>
  `POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\ncontent-type: application/json\r\n` +
  `content-length: ${length}\r\n\r\n${sent}`;

Deno.test("a full queue answers 503 overloaded with Retry-After; what it admitted is scored", async () => {
  const probe: Probe = { calls: [] };
  const body = await jsonOf([10, 20, 30, 40]);
  const slow = held(standIn(probe, { delayMs: 150 }));
  await withService(
    slow.detector,
    { batch: { maxQueuedImages: 8, maxBatchImages: 4 } },
    async (s) => {
      // The first batch is held until each of the 12 requests is in it, queued or refused:
      // the queue is full while they arrive, however spread out their arrivals are.
      slow.hold();
      const warmUp = slow.started.length;
      const answering = Promise.all(Array.from({ length: 12 }, async () => {
        const r = await post(s, body);
        return { status: r.status, retry: r.headers.get("retry-after"), body: await r.json() };
      }));
      await metricsUntil(
        s,
        "each request in the held batch, queued or refused",
        (text) =>
          (slow.started.length - warmUp) / 4 + queued(text) / 4 + counter(text, "overloaded") ===
            12,
      );
      slow.release();
      const answers = await answering;
      const refused = answers.filter((a) => a.status === 503);
      const scored = answers.filter((a) => a.status === 200);
      assert.ok(refused.length >= 1, `statuses ${answers.map((a) => a.status)}`);
      assert.ok(scored.length >= 2, `statuses ${answers.map((a) => a.status)}`);
      assert.equal(refused.length + scored.length, 12);
      for (const a of refused) {
        assert.equal(a.body.code, "overloaded");
        assert.equal(a.retry, "1");
      }
      // Never more than the bound waited: every scored request's images were scored once.
      assert.equal(probe.calls.flat().length - 1, scored.length * 4); // the warm-up image
      assert.equal(counter(await metricsOf(s), "overloaded"), refused.length);
      // Nothing stays counted against the bound: the next burst is admitted again.
      const after = await Promise.all([post(s, body), post(s, body)]);
      assert.deepEqual(after.map((r) => r.status), [200, 200]);
      await Promise.all(after.map((r) => r.body?.cancel()));
    },
  );
});

Deno.test("a request still queued at its deadline is refused with 503 deadline_exceeded", async () => {
  const probe: Probe = { calls: [] };
  const slow = held(standIn(probe));
  await withService(
    slow.detector,
    { batch: { deadlineMs: 200, maxBatchImages: 1 } },
    async (s) => {
      // The first request's batch is held until the second has been answered: the second
      // waits in the queue past its deadline, however slow the machine.
      slow.hold();
      const first = post(s, await png(10));
      await waitFor("the first batch began", 30, () => slow.started.includes(10), 10);
      const second = await post(s, await png(20));
      slow.release();
      assert.equal(second.status, 503);
      assert.equal(second.headers.get("retry-after"), "1");
      assert.equal((await second.json()).code, "deadline_exceeded");
      assert.equal((await first).status, 200);
      await (await first).body?.cancel();
      // The refused image was never scored.
      assert.ok(!probe.calls.flat().includes(20), JSON.stringify(probe.calls));
    },
  );
});

Deno.test("a request whose client has gone is dropped from the queue, not scored, counted", async () => {
  const probe: Probe = { calls: [] };
  const slow = held(standIn(probe));
  await withService(
    slow.detector,
    // A deadline beyond every wait here: only the cancellation can take the second request out.
    { batch: { maxBatchImages: 1, deadlineMs: 300_000 } },
    async (s) => {
      // The first request's batch is held while the second, queued behind it, is cancelled.
      slow.hold();
      const first = post(s, await png(10));
      await waitFor("the first batch began", 30, () => slow.started.includes(10), 10);
      const controller = new AbortController();
      const cancelled = post(s, await png(77), { signal: controller.signal });
      await metricsUntil(s, "the second request queued", (text) => queued(text) === 1);
      controller.abort();
      await assert.rejects(cancelled);
      // Dropped from the queue and counted while the first batch is still held.
      const metrics = await metricsUntil(
        s,
        "the cancelled request dropped and counted",
        (text) => queued(text) === 0 && counter(text, "client_disconnected") >= 1,
      );
      assert.equal(counter(metrics, "client_disconnected"), 1, metrics);
      slow.release();
      assert.equal((await first).status, 200);
      await (await first).body?.cancel();
      // Nothing was left to score after the first: the cancelled image never was.
      assert.ok(!probe.calls.flat().includes(77), `scored: ${JSON.stringify(probe.calls)}`);
      assert.ok(!slow.started.includes(77), `began: ${JSON.stringify(slow.started)}`);
    },
  );
});

Deno.test("a client that leaves mid-upload is counted as client_disconnected, not empty_body", async () => {
  await withService(standIn({ calls: [] }), {}, async (s) => {
    const conn = await raw(s, half(s, 5000, '{"images": ["'));
    // Its headers have reached the handler, which is reading the body.
    await waitFor("the upload reached the handler", 30, () => s.inFlight() === 1, 10);
    conn.close();
    const metrics = await metricsUntil(
      s,
      "the client counted as gone",
      (text) => counter(text, "client_disconnected") + counter(text, "empty_body") >= 1,
    );
    assert.equal(counter(metrics, "client_disconnected"), 1, metrics);
    assert.equal(counter(metrics, "empty_body"), 0, metrics);
  });
});

Deno.test("a non-finite score is verdict invalid; one client's bad image fails no other request", async () => {
  for (const failOnBad of [false, true]) {
    const probe: Probe = { calls: [] };
    await withService(
      standIn(probe, { failOnBad }),
      // A long window and a slow first batch: the concurrent requests share the next batch.
      { batch: { maxWaitMs: 200, maxBatchImages: 64 } },
      async (s) => {
        const bodies = [
          await jsonOf([10, 255, 200]),
          ...await Promise.all([1, 2, 3, 4].map((k) => jsonOf([k * 50]))),
        ];
        const answers = await Promise.all(bodies.map(async (b) => {
          const r = await post(s, b);
          return { status: r.status, body: await r.json() as ScoreAnswer };
        }));
        const what = `failOnBad ${failOnBad}: ${JSON.stringify(answers)}`;
        assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200], what);
        const mixed = answers[0]!.body.results;
        assert.deepEqual(mixed.map((r) => r.verdict), ["in", "invalid", "ood"], what);
        assert.equal(mixed[1]!.score, null);
        assert.equal(mixed[1]!.isOod, null);
        assert.match(mixed[1]!.problem!, /NaN/);
        assert.deepEqual(
          answers.slice(1).map((a) => a.body.results[0]!.verdict),
          ["in", "in", "ood", "ood"],
          what,
        );
        // The bad image did share a batch with other clients' images.
        assert.ok(probe.calls.some((c) => c.includes(255) && c.length > 3), what);
      },
    );
  }
});

Deno.test("on a loopback bind a foreign Host is refused with 421 JSON; loopback names pass", async () => {
  await withService(standIn({ calls: [] }), {}, async (s) => {
    for (const host of ["evil.example", `attacker.test:${s.port}`, "127.0.0.1.nip.io"]) {
      const conn = await raw(
        s,
        `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nconnection: close\r\n\r\n`,
      );
      const text = await readUntilClosed(conn, 5000);
      assert.match(text ?? "", /^HTTP\/1\.1 421/, host);
      assert.match(text ?? "", /"code":"misdirected_host"/, host);
    }
    for (const host of [`localhost:${s.port}`, `127.0.0.1:${s.port}`, "[::1]"]) {
      const conn = await raw(
        s,
        `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nconnection: close\r\n\r\n`,
      );
      assert.match(await readUntilClosed(conn, 5000) ?? "", /^HTTP\/1\.1 200/, host);
    }
  });
});

Deno.test("no error body names an absolute path of the server", async () => {
  const probe: Probe = { calls: [] };
  await withService(standIn(probe), { limits: { maxImagesPerRequest: 2 } }, async (s) => {
    const responses = [
      await post(s, await png(254)), // the engine fails naming its model file
      await post(s, "{"),
      await post(s, await jsonOf([1, 2, 3])),
      await post(s, new Uint8Array(100)),
      await fetch(`${s.url}/nowhere`),
      await fetch(`${s.url}/v1/score`),
    ];
    const bodies = await Promise.all(responses.map((r) => r.text()));
    assert.equal(responses[0]!.status, 500);
    assert.match(bodies[0]!, /net\.onnx/);
    for (const body of bodies) {
      assert.doesNotMatch(body, /\/home\/|\/tmp\/|\/work\/|\/root\/|file:\/\//, body);
      assert.equal(typeof JSON.parse(body).code, "string");
    }
    // Refused and failed requests hold no room in the queue.
    const ok = await post(s, await jsonOf([1, 2]));
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });
});

Deno.test("timeouts: half-sent headers, a stalled upload and an idle connection are cut", async () => {
  await withService(
    standIn({ calls: [] }),
    { timeouts: { headerMs: 300, bodyMs: 300, idleMs: 300 } },
    async (s) => {
      const started = performance.now();
      const headers = await raw(s, "POST /v1/score HTTP/1.1\r\nHost: localhost\r\n");
      const body = await raw(s, half(s, 5000, '{"images": ["'));
      const idle = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      // Bounds far above the 0.3 s asked for (a loaded machine), below the 10 s, 30 s and 60 s
      // of the defaults.
      const [h, b, i] = await Promise.all([
        readUntilClosed(headers, 9000),
        readUntilClosed(body, 9000),
        readUntilClosed(idle, 9000),
      ]);
      const seconds = (performance.now() - started) / 1000;
      assert.match(h ?? "still open", /^HTTP\/1\.1 408[\s\S]*header_timeout/);
      assert.match(b ?? "still open", /^HTTP\/1\.1 408[\s\S]*body_timeout/);
      assert.equal(i, "", "the idle connection is closed without an answer");
      assert.ok(seconds < 8, `${seconds} s`);
      const metrics = await metricsOf(s);
      assert.equal(counter(metrics, "body_timeout"), 1, metrics);
    },
  );
});

Deno.test("a kept-alive connection in use outlives its idle timeout: each answer moves the deadline", async () => {
  await withService(
    standIn({ calls: [] }),
    { timeouts: { headerMs: 2000, bodyMs: 2000, idleMs: 2000 } },
    async (s) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
      const buffer = new Uint8Array(4096);
      const started = performance.now();
      let answered = 0;
      // Gaps far below the idle timeout, for longer than it in all.
      while (performance.now() - started < 3000) {
        await conn.write(
          new TextEncoder().encode(`GET /livez HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`),
        );
        const n = await conn.read(buffer);
        assert.ok(n !== null, `closed after ${answered} answers`);
        assert.match(new TextDecoder().decode(buffer.subarray(0, n)), /^HTTP\/1\.1 200/);
        answered += 1;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.ok(answered >= 2, `${answered} answers`);
      conn.close();
    },
  );
});
