// Reading rendered pages the way a browser does: parse5 implements the HTML standard's parsing algorithm (the one
// browsers and jsdom use) and reports every parse error, so "it parses" means "a browser builds the tree we meant".
import { parse, type DefaultTreeAdapterMap } from 'parse5';

type Node = DefaultTreeAdapterMap['node'];
export type Element = DefaultTreeAdapterMap['element'];

export function parseHtml(html: string): { doc: DefaultTreeAdapterMap['document']; errors: string[] } {
  const errors: string[] = [];
  const doc = parse(html, { onParseError: (e) => errors.push(`${e.code} at line ${e.startLine}:${e.startCol}`) });
  return { doc, errors };
}

function children(n: Node): Node[] {
  const own = 'childNodes' in n ? (n.childNodes as Node[]) : [];
  // <template> content is not rendered; nothing of ours uses it.
  return own;
}

export function elements(root: Node, tag?: string): Element[] {
  const out: Element[] = [];
  const walk = (n: Node) => {
    if ('tagName' in n && (!tag || n.tagName === tag)) out.push(n as Element);
    children(n).forEach(walk);
  };
  walk(root);
  return out;
}

export function byClass(root: Node, cls: string): Element[] {
  return elements(root).filter((e) => (attr(e, 'class') ?? '').split(/\s+/).includes(cls));
}

export function attr(e: Element, name: string): string | undefined {
  return e.attrs.find((a) => a.name === name)?.value;
}

export function textOf(n: Node): string {
  if (n.nodeName === '#text') return (n as DefaultTreeAdapterMap['textNode']).value;
  return children(n).map(textOf).join('');
}

/** A parse that must have no error at all; returns the document. */
export function strictParse(html: string) {
  const { doc, errors } = parseHtml(html);
  if (errors.length) throw new Error(`HTML parse errors: ${errors.join('; ')}`);
  return doc;
}

/** Any email address: deliberately broader than the one the code redacts with. */
export const ANY_ADDRESS = /[^\s<>"'()[\]{},;:]+@[^\s<>"'()[\]{},;:]+\.[a-z]{2,}/gi;
