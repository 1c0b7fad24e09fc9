/**
 * The process logger: pino, shaped by `log.level`, `log.formatter` and `log.fields`.
 * `json` and `logstash` write pino's JSON lines; `text` writes logfmt-style lines like Distribution's
 * (logrus) text formatter: `time="..." level=info msg="..." key=value`.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export interface LogOptions {
  level: string;
  formatter: 'text' | 'json' | 'logstash';
  fields?: Record<string, unknown>;
}

const PINO_LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

export function createLogger(options: LogOptions, output: NodeJS.WritableStream = process.stdout): Logger {
  const base = { ...(options.fields ?? {}) };
  const pinoOptions = {
    level: options.level,
    base,
    messageKey: options.formatter === 'logstash' ? 'message' : 'msg',
    timestamp: options.formatter === 'logstash' ? () => `,"@timestamp":"${new Date().toISOString()}"` : pino.stdTimeFunctions.isoTime,
  };
  if (options.formatter !== 'text') return pino(pinoOptions, output);
  return pino(pinoOptions, new TextLines(output));
}

/** Rewrites each JSON line from pino as one text line. */
class TextLines extends Writable {
  constructor(private readonly output: NodeJS.WritableStream) {
    super({ decodeStrings: false });
  }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const lines = chunk.toString().split('\n').filter((line) => line.length > 0);
    this.output.write(lines.map((line) => formatTextLine(JSON.parse(line) as Record<string, unknown>)).join(''), () => done());
  }
}

export function formatTextLine(record: Record<string, unknown>): string {
  const { time, level, msg, ...rest } = record;
  const parts = [`time=${quote(String(time))}`, `level=${PINO_LEVEL_NAMES[level as number] ?? String(level)}`, `msg=${quote(String(msg ?? ''))}`];
  for (const [key, value] of Object.entries(rest)) {
    parts.push(`${key}=${quote(typeof value === 'string' ? value : JSON.stringify(value))}`);
  }
  return `${parts.join(' ')}\n`;
}

function quote(value: string): string {
  return /^[A-Za-z0-9_.:/@+-]+$/.test(value) ? value : JSON.stringify(value);
}
