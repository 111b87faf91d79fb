/**
 * A small, dependency-free SVG chart writer for benchmark results: horizontal grouped bar charts (one row
 * group per category, one bar per series; linear or log value axis, optional reference line such as a
 * ratio of 1) and line charts (numeric x and y, linear or log). Output is a standalone SVG string that
 * renders in browsers and on GitHub.
 *
 * PROMISES: all text is XML-escaped; non-finite or missing values draw no bar/point (and never NaN
 * coordinates); the same spec always yields the same bytes (stable diffs of committed plots).
 */

export type Scale = 'linear' | 'log';

export interface BarSeries {
  name: string;
  /** One value per category; undefined = not measured (no bar). */
  values: Array<number | undefined>;
  color?: string;
}

export interface BarChartSpec {
  title: string;
  subtitle?: string;
  categories: string[];
  series: BarSeries[];
  valueLabel: string;
  scale?: Scale;
  /** A vertical dashed line at this value (e.g. 1 for ratios). */
  referenceLine?: { value: number; label: string };
  formatValue?: (v: number) => string;
  width?: number;
}

export interface LineSeries {
  name: string;
  points: Array<[number, number]>;
  color?: string;
}

export interface LineChartSpec {
  title: string;
  subtitle?: string;
  series: LineSeries[];
  xLabel: string;
  yLabel: string;
  xScale?: Scale;
  yScale?: Scale;
  formatX?: (v: number) => string;
  formatY?: (v: number) => string;
  width?: number;
  height?: number;
}

export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563', '#ca8a04'];

/** Mixes a #rrggbb colour with white: amount 0 = unchanged, 1 = white. */
export function tint(hex: string, amount: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (m === null) return hex;
  const v = parseInt(m[1]!, 16);
  const mix = (c: number): string => Math.round(c + (255 - c) * Math.min(1, Math.max(0, amount))).toString(16).padStart(2, '0');
  return `#${mix((v >> 16) & 255)}${mix((v >> 8) & 255)}${mix(v & 255)}`;
}

const FONT = 'font-family="Helvetica, Arial, sans-serif"';
/** Rough advance width of a 12px sans-serif character, for laying out labels without measuring text. */
const CHAR_W = 6.6;

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1234 → '1.2k', 2500000 → '2.5M', 0.853 → '0.85'. */
export function compactNumber(v: number): string {
  const a = Math.abs(v);
  const trim = (s: string): string => s.replace(/\.0+$/, '').replace(/(\.\d*?)0+$/, '$1');
  if (a >= 1e9) return trim((v / 1e9).toFixed(a >= 1e10 ? 0 : 1)) + 'G';
  if (a >= 1e6) return trim((v / 1e6).toFixed(a >= 1e7 ? 0 : 1)) + 'M';
  if (a >= 1e3) return trim((v / 1e3).toFixed(a >= 1e4 ? 0 : 1)) + 'k';
  if (a >= 10) return String(Math.round(v));
  if (a >= 1) return trim(v.toFixed(2));
  if (a === 0) return '0';
  return trim(v.toPrecision(2));
}

const num = (v: number): string => (Math.round(v * 100) / 100).toString();

/** Maps data values to pixel offsets in [0, length]. */
interface Axis {
  pos(v: number): number;
  ticks: number[];
  min: number;
  max: number;
}

function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/** REQUIRES every value finite (callers filter); log scale also REQUIRES values > 0. */
function makeAxis(values: number[], scale: Scale, length: number, includeZero: boolean): Axis {
  if (scale === 'log') {
    const pos = values.filter((v) => v > 0);
    let lo = 10 ** Math.floor(Math.log10(pos.length ? Math.min(...pos) : 1));
    let hi = 10 ** Math.ceil(Math.log10(pos.length ? Math.max(...pos) : 10));
    if (hi <= lo) hi = lo * 10;
    const decades = Math.round(Math.log10(hi / lo));
    const ticks: number[] = [];
    for (let d = lo; d <= hi * 1.0001; d *= 10) {
      ticks.push(d);
      if (decades <= 2 && d * 10 <= hi * 1.0001) ticks.push(d * 2, d * 5);
    }
    lo = Math.min(lo, hi / 10);
    const span = Math.log10(hi) - Math.log10(lo);
    return {
      min: lo,
      max: hi,
      ticks: ticks.sort((a, b) => a - b),
      pos: (v) => ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span) * length,
    };
  }
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (includeZero) lo = Math.min(0, lo);
  if (hi <= lo) hi = lo + 1;
  const step = niceStep(hi - lo, 5);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = lo; t <= hi + step / 2; t += step) ticks.push(Math.round(t / step) * step);
  return { min: lo, max: hi, ticks, pos: (v) => ((v - lo) / (hi - lo)) * length };
}

function legend(series: Array<{ name: string; color: string }>, x: number, y: number): string {
  let out = '';
  let cx = x;
  for (const s of series) {
    out += `<rect x="${num(cx)}" y="${num(y - 9)}" width="12" height="12" fill="${s.color}"/>`;
    out += `<text x="${num(cx + 17)}" y="${num(y + 1)}" font-size="12" ${FONT}>${escapeXml(s.name)}</text>`;
    cx += 17 + s.name.length * CHAR_W + 18;
  }
  return out;
}

function header(title: string, subtitle: string | undefined, width: number): string {
  let out = `<text x="${num(width / 2)}" y="22" text-anchor="middle" font-size="16" font-weight="bold" ${FONT}>${escapeXml(title)}</text>`;
  if (subtitle) out += `<text x="${num(width / 2)}" y="40" text-anchor="middle" font-size="11" fill="#555" ${FONT}>${escapeXml(subtitle)}</text>`;
  return out;
}

/** Horizontal grouped bars: categories down the left, values along the bottom. */
export function barChartSvg(spec: BarChartSpec): string {
  const scale = spec.scale ?? 'linear';
  const fmt = spec.formatValue ?? compactNumber;
  const width = spec.width ?? 960;
  const series = spec.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const usable = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v) && (scale === 'linear' || v > 0);
  const all = series.flatMap((s) => s.values.filter(usable));
  if (spec.referenceLine) all.push(spec.referenceLine.value);

  const barH = 14;
  const groupGap = 12;
  const labelW = Math.min(360, Math.max(80, ...spec.categories.map((c) => c.length * CHAR_W))) + 12;
  const top = spec.subtitle ? 76 : 62;
  const left = labelW;
  const right = 70; // room for the value printed after the longest bar
  const plotW = width - left - right;
  const groupH = series.length * barH + groupGap;
  const plotH = Math.max(groupH, spec.categories.length * groupH);
  const height = top + plotH + 48;
  const axis = makeAxis(all, scale, plotW, true);

  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${num(height)}" viewBox="0 0 ${width} ${num(height)}">`;
  out += `<rect width="100%" height="100%" fill="#fff"/>`;
  out += header(spec.title, spec.subtitle, width);
  out += legend(series, left, top - 18);
  // Grid and value axis.
  for (const t of axis.ticks) {
    const x = left + axis.pos(t);
    out += `<line x1="${num(x)}" y1="${top}" x2="${num(x)}" y2="${num(top + plotH)}" stroke="#e5e7eb"/>`;
    out += `<text x="${num(x)}" y="${num(top + plotH + 16)}" text-anchor="middle" font-size="11" fill="#333" ${FONT}>${escapeXml(fmt(t))}</text>`;
  }
  out += `<line x1="${left}" y1="${num(top + plotH)}" x2="${num(left + plotW)}" y2="${num(top + plotH)}" stroke="#333"/>`;
  out += `<text x="${num(left + plotW / 2)}" y="${num(top + plotH + 38)}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(
    spec.valueLabel + (scale === 'log' ? ' (log scale)' : ''),
  )}</text>`;
  // Reference line under the bars, so value labels stay readable where they cross it.
  if (spec.referenceLine && usable(spec.referenceLine.value)) {
    const x = left + axis.pos(spec.referenceLine.value);
    out += `<line x1="${num(x)}" y1="${top - 4}" x2="${num(x)}" y2="${num(top + plotH)}" stroke="#111" stroke-width="1.5" stroke-dasharray="5,4"/>`;
    out += `<text x="${num(x + 4)}" y="${top - 6}" font-size="11" ${FONT}>${escapeXml(spec.referenceLine.label)}</text>`;
  }
  // Bars.
  spec.categories.forEach((cat, ci) => {
    const gy = top + ci * groupH + groupGap / 2;
    out += `<text x="${left - 8}" y="${num(gy + (series.length * barH) / 2 + 4)}" text-anchor="end" font-size="12" ${FONT}>${escapeXml(cat)}</text>`;
    series.forEach((s, si) => {
      const v = s.values[ci];
      if (!usable(v)) return;
      const x0 = left + axis.pos(scale === 'log' ? axis.min : Math.max(axis.min, 0));
      const x1 = left + axis.pos(v);
      const y = gy + si * barH;
      out += `<rect x="${num(Math.min(x0, x1))}" y="${num(y)}" width="${num(Math.max(1, Math.abs(x1 - x0)))}" height="${barH - 2}" fill="${s.color}"><title>${escapeXml(
        `${s.name} · ${cat}: ${fmt(v)}`,
      )}</title></rect>`;
      out += `<text x="${num(Math.max(x0, x1) + 4)}" y="${num(y + barH - 4)}" font-size="10" fill="#333" stroke="#fff" stroke-width="3" paint-order="stroke" ${FONT}>${escapeXml(fmt(v))}</text>`;
    });
  });
  return out + '</svg>\n';
}

/** Lines with point markers over numeric x and y axes. */
export function lineChartSvg(spec: LineChartSpec): string {
  const xScale = spec.xScale ?? 'linear';
  const yScale = spec.yScale ?? 'linear';
  const fx = spec.formatX ?? compactNumber;
  const fy = spec.formatY ?? compactNumber;
  const width = spec.width ?? 800;
  const height = spec.height ?? 460;
  const series = spec.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const ok = (p: [number, number]): boolean =>
    Number.isFinite(p[0]) && Number.isFinite(p[1]) && (xScale === 'linear' || p[0] > 0) && (yScale === 'linear' || p[1] > 0);
  const pts = series.map((s) => s.points.filter(ok).sort((a, b) => a[0] - b[0]));
  const top = spec.subtitle ? 76 : 62;
  const left = 72;
  const right = 24;
  const bottom = 56;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xa = makeAxis(pts.flat().map((p) => p[0]), xScale, plotW, false);
  const ya = makeAxis(pts.flat().map((p) => p[1]), yScale, plotH, true);
  const X = (v: number): number => left + xa.pos(v);
  const Y = (v: number): number => top + plotH - ya.pos(v);

  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`;
  out += `<rect width="100%" height="100%" fill="#fff"/>`;
  out += header(spec.title, spec.subtitle, width);
  out += legend(series, left, top - 18);
  for (const t of ya.ticks) {
    out += `<line x1="${left}" y1="${num(Y(t))}" x2="${num(left + plotW)}" y2="${num(Y(t))}" stroke="#e5e7eb"/>`;
    out += `<text x="${left - 6}" y="${num(Y(t) + 4)}" text-anchor="end" font-size="11" ${FONT}>${escapeXml(fy(t))}</text>`;
  }
  for (const t of xa.ticks) {
    out += `<line x1="${num(X(t))}" y1="${top}" x2="${num(X(t))}" y2="${num(top + plotH)}" stroke="#f1f5f9"/>`;
    out += `<text x="${num(X(t))}" y="${num(top + plotH + 16)}" text-anchor="middle" font-size="11" ${FONT}>${escapeXml(fx(t))}</text>`;
  }
  out += `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`;
  out += `<text x="${num(left + plotW / 2)}" y="${height - 14}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(
    spec.xLabel + (xScale === 'log' ? ' (log)' : ''),
  )}</text>`;
  out += `<text transform="translate(16 ${num(top + plotH / 2)}) rotate(-90)" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(
    spec.yLabel + (yScale === 'log' ? ' (log)' : ''),
  )}</text>`;
  series.forEach((s, i) => {
    const p = pts[i]!;
    if (p.length === 0) return;
    out += `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${p.map(([x, y]) => `${num(X(x))},${num(Y(y))}`).join(' ')}"/>`;
    for (const [x, y] of p) {
      out += `<circle cx="${num(X(x))}" cy="${num(Y(y))}" r="3" fill="${s.color}"><title>${escapeXml(`${s.name}: ${fx(x)}, ${fy(y)}`)}</title></circle>`;
    }
  });
  return out + '</svg>\n';
}
