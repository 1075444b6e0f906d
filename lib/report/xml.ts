/**
 * Escaping text for SVG and HTML.
 *
 * @module
 */
/** Escape text for SVG/HTML content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
