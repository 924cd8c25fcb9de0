import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSentenceChunker } from '../src/engine/chunker';
import { parseArticle, parseFrontMatter, splitSentences, stripMarkdown } from '../src/engine/kb';
import { shortenSentence, verbalize } from '../src/engine/speech';

describe('verbalize: written text → what a voice agent says', () => {
  const cases: Array<[string, string]> = [
    ['Standard shipping costs $4.99.', 'Standard shipping costs 4 dollars 99.'],
    ['Free on orders over $50.', 'Free on orders over 50 dollars.'],
    ['It costs $1 or $0.50 or $1.05.', 'It costs 1 dollar or 50 cents or 1 dollar 5 cents.'],
    ['Gift cards from $10-$500.', 'Gift cards from 10 dollars to 500 dollars.'],
    ['Open 9am-5pm.', 'Open 9 AM to 5 PM.'],
    ['Open 8:30am – 6pm on Mon-Fri.', 'Open 8 30 AM to 6 PM on Monday to Friday.'],
    ['Pickup at 9:05pm.', 'Pickup at 9 oh 5 PM.'],
    ['Chat is open 24/7.', 'Chat is open 24 hours a day, 7 days a week.'],
    ['Refunds take 5-10 business days.', 'Refunds take 5 to 10 business days.'],
    ['Save 30% today.', 'Save 30 percent today.'],
    ['Call 1-800-555-0142.', 'Call 1 800, 5 5 5, 0 1 4 2.'],
    ['Email help@northwindgoods.example.', 'Email help at northwindgoods dot example.'],
    ['See https://northwindgoods.example/returns.', 'See northwindgoods dot example slash returns.'],
    ['Shipped on 2024-03-15.', 'Shipped on March 15, 2024.'],
    ['Order NW12345 to Oregon 97209.', 'Order N W 1 2 3 4 5 to Oregon 9 7 2 0 9.'],
    ['Drop it at UPS; get the PDF.', 'Drop it at U P S; get the P D F.'],
    ['Reply **STOP** to any text.', 'Reply STOP to any text.'],
    ['Tea & coffee, e.g. green tea.', 'Tea and coffee, for example green tea.'],
  ];
  for (const [input, spoken] of cases) {
    it(`${input} → ${spoken}`, () => assert.equal(verbalize(input), spoken));
  }

  it('leaves non-Latin scripts untouched (Telugu)', () => {
    const te = 'మీ ఆర్డర్ రేపు వస్తుంది.';
    assert.equal(verbalize(te), te);
    assert.equal(verbalize(`${te} $4.99`), `${te} 4 dollars 99`);
  });

  it('splits long sentences at clause boundaries', () => {
    const long =
      'If you were not home, the carrier leaves a notice and tries again the next business day, and after 3 attempts the parcel goes to the nearest pickup point for 7 days.';
    const parts = shortenSentence(long);
    assert.equal(parts.length, 2);
    assert.match(parts[1]!, /^And after 3 attempts/);
    assert.deepEqual(shortenSentence('Short one.'), ['Short one.']);
  });
});

describe('sentences and markdown', () => {
  it('splits sentences without breaking decimals or abbreviations', () => {
    assert.deepEqual(splitSentences('It costs $4.99. Ships e.g. today! Really? Yes.'), ['It costs $4.99.', 'Ships e.g. today!', 'Really?', 'Yes.']);
    assert.deepEqual(splitSentences('మొదటి వాక్యం। రెండవ వాక్యం.'), ['మొదటి వాక్యం।', 'రెండవ వాక్యం.']);
  });

  it('strips markdown to speakable text', () => {
    assert.equal(stripMarkdown('See **Your Orders** and [the help page](https://x.example) or `code`.'), 'See Your Orders and the help page or code.');
  });

  it('the streaming chunker emits a sentence only once it is complete', () => {
    const c = createSentenceChunker();
    assert.deepEqual(c.push('Standard shipping costs $4.'), []);
    assert.deepEqual(c.push('99, and it is free. Exp'), ['Standard shipping costs $4.99, and it is free.']);
    assert.deepEqual(c.push('ress costs more. '), ['Express costs more.']);
    assert.deepEqual(c.push('Last one without a stop'), []);
    assert.deepEqual(c.flush(), ['Last one without a stop']);
  });
});

describe('knowledge-base articles', () => {
  it('parses front matter (inline lists, block lists, quotes)', () => {
    const fm = parseFrontMatter('id: a-b\ntitle: "Hello: world"\ntags: [x, y z]\nquestions:\n  - One?\n  - Two?');
    assert.deepEqual(fm, { id: 'a-b', title: 'Hello: world', tags: ['x', 'y z'], questions: ['One?', 'Two?'] });
  });

  it('turns headings, paragraphs and bullets into sentences', () => {
    const a = parseArticle('---\nid: t\ntitle: T\ntags: [a]\n---\n# Heading\n\nFirst line. Second line.\n\n- bullet one\n- bullet two.\n', 't.md');
    assert.deepEqual(a.sentences.map((s) => s.text), ['First line.', 'Second line.', 'bullet one.', 'bullet two.']);
    assert.equal(a.sentences[0]!.paragraph, a.sentences[1]!.paragraph);
  });

  it('rejects an article without an id', () => {
    assert.throws(() => parseArticle('---\ntitle: T\n---\nBody.', 'x.md'), (e: Error & { code?: string }) => e.code === 'kb_front_matter');
    assert.throws(() => parseArticle('No front matter', 'y.md'), (e: Error & { code?: string }) => e.code === 'kb_front_matter');
  });
});
