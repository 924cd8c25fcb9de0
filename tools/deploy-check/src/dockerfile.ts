// A small Dockerfile linter for the rules this project cares about (no hadolint offline):
// pinned base images, a non-root final USER, a HEALTHCHECK, an ENTRYPOINT/CMD.
export interface DockerInstruction {
  line: number;
  op: string;
  args: string;
}

/** Instructions with continuation lines joined; comments and blank lines dropped. */
export function parseDockerfile(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i] ?? '';
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i++;
      const next = lines[i] ?? '';
      if (/^\s*#/.test(next)) continue; // comment lines inside a continued RUN
      line = line.replace(/\\\s*$/, ' ') + next;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) out.push({ line: start + 1, op: m[1].toUpperCase(), args: m[2].trim() });
  }
  return out;
}

/** Problems found; empty when the Dockerfile follows the rules. */
export function lintDockerfile(text: string): string[] {
  const ins = parseDockerfile(text);
  const problems: string[] = [];
  const args = new Map<string, string>();
  for (const i of ins) {
    if (i.op !== 'ARG') continue;
    const [k, v] = i.args.split('=', 2);
    if (k && v !== undefined) args.set(k.trim(), v.trim());
  }
  const expand = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => args.get(a ?? b ?? '') ?? '');
  const stages: string[] = [];
  const froms = ins.filter((i) => i.op === 'FROM');
  if (froms.length === 0) problems.push('no FROM');
  for (const f of froms) {
    const parts = f.args.split(/\s+/).filter((p) => !p.startsWith('--'));
    const image = expand(parts[0] ?? '');
    const alias = parts[2];
    if (alias) stages.push(alias);
    if (stages.includes(image)) continue; // FROM <earlier stage>
    const last = image.split('/').pop() ?? '';
    const tag = image.includes('@') ? 'digest' : last.split(':')[1];
    if (!tag) problems.push(`line ${f.line}: base image ${image} has no tag`);
    else if (tag === 'latest' || /(^|-)latest$/.test(tag)) problems.push(`line ${f.line}: base image ${image} uses latest`);
  }
  const lastFrom = froms.at(-1)?.line ?? 0;
  const final = ins.filter((i) => i.line > lastFrom);
  const user = final.filter((i) => i.op === 'USER').at(-1);
  if (!user) problems.push('final stage has no USER (runs as root)');
  else {
    const u = user.args.split(':')[0]?.trim();
    if (u === 'root' || u === '0') problems.push(`line ${user.line}: final USER is root`);
  }
  const hc = final.filter((i) => i.op === 'HEALTHCHECK').at(-1);
  if (!hc) problems.push('final stage has no HEALTHCHECK');
  else if (/^NONE\b/i.test(hc.args)) problems.push(`line ${hc.line}: HEALTHCHECK NONE`);
  if (!final.some((i) => i.op === 'ENTRYPOINT' || i.op === 'CMD')) problems.push('final stage has no ENTRYPOINT or CMD');
  for (const i of ins) {
    if (i.op === 'ADD' && /https?:\/\//.test(i.args)) problems.push(`line ${i.line}: ADD from a URL (unpinned download)`);
    if (i.op === 'RUN' && /apt-get install(?![^&;]*--no-install-recommends)/.test(i.args)) problems.push(`line ${i.line}: apt-get install without --no-install-recommends`);
    if (i.op === 'RUN' && /\b(curl|wget)\b[^|]*\|\s*(ba)?sh/.test(i.args)) problems.push(`line ${i.line}: pipes a download into a shell`);
  }
  return problems;
}
