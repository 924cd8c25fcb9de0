// Loading a knowledge-base folder: markdown articles with a small front matter block
// (id, title, tags, questions). Parsing is pure (parseArticle); loadKb does the file I/O.
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

export interface Sentence {
  /** Plain text, markdown removed (not yet verbalised for speech). */
  text: string;
  paragraph: number;
}

export interface Article {
  id: string;
  title: string;
  tags: string[];
  questions: string[];
  sentences: Sentence[];
  /** Relative path inside the KB folder, for logs. */
  path: string;
}

export class KbError extends Error {
  readonly code: 'kb_empty' | 'kb_front_matter' | 'kb_duplicate_id' | 'kb_read';
  readonly retryable = false;
  constructor(code: KbError['code'], message: string) {
    super(message);
    this.name = 'KbError';
    this.code = code;
  }
}

type FrontMatter = Record<string, string | string[]>;

function unquote(v: string): string {
  const t = v.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  return t;
}

/** The subset of YAML the KB uses: `key: value`, `key: [a, b]`, and `key:` followed by `- item` lines. */
export function parseFrontMatter(block: string): FrontMatter {
  const out: FrontMatter = {};
  let listKey: string | undefined;
  for (const raw of block.split(/\r?\n/)) {
    if (raw.trim() === '' || raw.trim().startsWith('#')) continue;
    const item = /^\s*-\s+(.*)$/.exec(raw);
    if (item && listKey !== undefined) {
      const list = out[listKey];
      if (Array.isArray(list)) list.push(unquote(item[1] ?? ''));
      continue;
    }
    const kv = /^([A-Za-z_][\w-]*)\s*:\s*(.*)$/.exec(raw);
    if (!kv) throw new Error(`cannot parse front matter line: ${raw}`);
    const key = kv[1]!;
    const value = (kv[2] ?? '').trim();
    if (value === '') {
      out[key] = [];
      listKey = key;
    } else if (value.startsWith('[') && value.endsWith(']')) {
      out[key] = value.slice(1, -1).split(',').map(unquote).filter((s) => s !== '');
      listKey = undefined;
    } else {
      out[key] = unquote(value);
      listKey = undefined;
    }
  }
  return out;
}

/** Markdown → plain speakable text (links keep their label, emphasis and code marks go). */
export function stripMarkdown(line: string): string {
  return line
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/(\*\*|__)(.*?)\1/g, '$2')
    .replace(/(^|[^\w*])[*_]([^*_\n]+)[*_](?=[^\w*]|$)/g, '$1$2')
    .replace(/<[^>]+>/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

// A sentence ends at . ! ? (or the Devanagari/Telugu danda) followed by space, unless the
// period belongs to a common abbreviation. Decimals ("4.99") never match: no space follows.
const ABBREV = /\b(e\.g|i\.e|etc|mr|mrs|ms|dr|st|no|vs|approx|a\.m|p\.m)\.$/i;
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  const re = /[.!?\u0964\u0965]+["')\]]?(\s+|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const end = m.index + m[0].length;
    const candidate = text.slice(start, end).trim();
    if (ABBREV.test(text.slice(start, m.index + 1).trim()) && end < text.length) continue;
    if (candidate !== '') out.push(candidate);
    start = end;
    if (m[0].length === 0) re.lastIndex++;
  }
  const rest = text.slice(start).trim();
  if (rest !== '') out.push(rest);
  return out;
}

export function parseArticle(source: string, path: string): Article {
  const text = source.replace(/^\uFEFF/, '');
  const fm = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
  if (!fm) throw new KbError('kb_front_matter', `${path}: missing front matter (--- id/title/tags ---)`);
  let meta: FrontMatter;
  try {
    meta = parseFrontMatter(fm[1] ?? '');
  } catch (err) {
    throw new KbError('kb_front_matter', `${path}: ${(err as Error).message}`);
  }
  const id = meta['id'];
  const title = meta['title'];
  if (typeof id !== 'string' || id === '') throw new KbError('kb_front_matter', `${path}: front matter needs an id`);
  if (typeof title !== 'string' || title === '') throw new KbError('kb_front_matter', `${path}: front matter needs a title`);
  const asList = (v: string | string[] | undefined): string[] =>
    v === undefined ? [] : Array.isArray(v) ? v : v.split(',').map((s) => s.trim()).filter(Boolean);

  const sentences: Sentence[] = [];
  let paragraph = 0;
  let buffer: string[] = [];
  const flush = (): void => {
    if (buffer.length === 0) return;
    for (const s of splitSentences(buffer.join(' '))) sentences.push({ text: s, paragraph });
    buffer = [];
    paragraph++;
  };
  for (const rawLine of text.slice(fm[0].length).split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || /^#{1,6}\s/.test(line) || /^(-{3,}|\*{3,})$/.test(line) || line.startsWith('```')) {
      flush();
      continue;
    }
    const bullet = /^([-*+]|\d+[.)])\s+(.*)$/.exec(line);
    if (bullet) {
      // Each list item is spoken as its own sentence.
      flush();
      const item = stripMarkdown(bullet[2] ?? '');
      buffer.push(/[.!?\u0964]$/.test(item) ? item : `${item}.`);
      flush();
      continue;
    }
    buffer.push(stripMarkdown(line));
  }
  flush();
  return { id, title, tags: asList(meta['tags']), questions: asList(meta['questions']), sentences, path };
}

async function listMarkdown(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.md') && !e.name.startsWith('.') && e.name.toLowerCase() !== 'readme.md')
    .map((e) => join(e.parentPath ?? dir, e.name))
    .sort();
}

export async function loadKb(dir: string): Promise<Article[]> {
  let files: string[];
  try {
    files = await listMarkdown(dir);
  } catch (err) {
    throw new KbError('kb_read', `cannot read KB folder ${dir}: ${(err as Error).message}`);
  }
  const articles: Article[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const rel = relative(dir, file);
    const article = parseArticle(await readFile(file, 'utf8'), rel);
    const other = seen.get(article.id);
    if (other !== undefined) throw new KbError('kb_duplicate_id', `article id "${article.id}" used by ${other} and ${rel}`);
    seen.set(article.id, rel);
    articles.push(article);
  }
  if (articles.length === 0) throw new KbError('kb_empty', `no markdown articles in ${dir}`);
  return articles;
}
