/**
 * Every relative link of the README and of `docs/*.md` points at a file of the checkout, and a
 * link's `#anchor` into a Markdown file at one of its headings (GitHub's heading slugs), so moving
 * or renaming a page or a section cannot leave a dead link behind.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The README and every Markdown page of `docs/` (the generated `docs/api/` is not Markdown). */
const pages = [
  join(root, "README.md"),
  ...[...Deno.readDirSync(join(root, "docs"))]
    .filter((entry) => entry.isFile && entry.name.endsWith(".md"))
    .map((entry) => join(root, "docs", entry.name)),
];

/** The text outside fenced code blocks, where a line starting with `#` is a heading. */
const outsideFences = (markdown: string): string =>
  markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "");

/** The text outside code (fenced and inline), where a `[…](…)` is a link. */
const prose = (markdown: string): string => outsideFences(markdown).replace(/`[^`\n]*`/g, "");

/** The targets of the inline links `[text](target)` of a page. */
const links = (markdown: string): ReadonlyArray<string> =>
  [...prose(markdown).matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)].map((match) => match[1]!);

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string): string =>
  heading.toLowerCase().replace(/`/g, "").replace(/[^\p{L}\p{N}\s_-]/gu, "").trim()
    .replace(/\s/g, "-");

/** The anchors of a Markdown page's headings, a repeated one numbered as GitHub does. */
const anchors = (markdown: string): ReadonlySet<string> => {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const match of outsideFences(markdown).matchAll(/^#{1,6} +(.+?) *$/gm)) {
    const base = slug(match[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.add(count === 0 ? base : `${base}-${count}`);
  }
  return out;
};

Deno.test("slug and anchors follow GitHub's heading anchors", () => {
  assert.equal(slug("Replicas (`--replicas N`, HAProxy)"), "replicas---replicas-n-haproxy");
  assert.equal(slug("The service under faults"), "the-service-under-faults");
  assert.deepEqual([...anchors("# A\n```\n# not a heading\n```\n## A\n")], ["a", "a-1"]);
  assert.deepEqual(links("[x](a.md) `[y](b.md)`\n```\n[z](c.md)\n```\n"), ["a.md"]);
});

Deno.test("every relative link in README.md and docs/*.md resolves, anchors included", async () => {
  const broken: Array<string> = [];
  let checked = 0;
  for (const page of pages) {
    const text = await Deno.readTextFile(page);
    for (const target of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      checked++;
      const [path = "", anchor] = target.split("#");
      const file = path === "" ? page : join(dirname(page), decodeURIComponent(path));
      const where = `${relative(root, page)}: ${target}`;
      const stat = await Deno.stat(file).catch(() => undefined);
      if (stat === undefined) {
        broken.push(`${where} (no ${relative(root, file)})`);
      } else if (anchor !== undefined && file.endsWith(".md")) {
        if (!anchors(await Deno.readTextFile(file)).has(anchor)) {
          broken.push(`${where} (no heading #${anchor})`);
        }
      }
    }
  }
  assert.ok(checked >= 30, `only ${checked} relative links found`);
  assert.deepEqual(broken, []);
});
