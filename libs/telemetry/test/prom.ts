// Reads one sample from Prometheus text exposition, independent of label order.
export function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) got[pair[1] ?? ''] = pair[2] ?? '';
    const keys = Object.keys(labels);
    if (keys.length !== Object.keys(got).length) continue;
    if (keys.every((k) => got[k] === labels[k])) return Number(m[3]);
  }
  return undefined;
}
