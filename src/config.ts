// The only reader of process.env and of the campaign file. Everything else receives the frozen Config.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { IntakeError } from './errors.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PROJECT_ROOT = path.resolve(here, '..');
export const DEFAULT_CAMPAIGN = path.join(PROJECT_ROOT, 'fixtures/campaign/notorturetj.json');
export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'migrations');

const MiB = 1024 * 1024;

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date written YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)), 'is not a real date');

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'is not a known IANA time zone (for example Asia/Dushanbe)');

const email = z.string().regex(/^[^\s@<>()",;]+@[^\s@<>()",;]+\.[^\s@<>()",;]+$/, 'must be an email address');

export const LimitsSchema = z
  .object({
    videoSeconds: z.number().int().positive().default(120),
    attachmentBytes: z.number().int().positive().default(300 * MiB),
    messageBytes: z.number().int().positive().default(400 * MiB),
    headerBytes: z.number().int().positive().default(512 * 1024),
    mimeParts: z.number().int().positive().default(500),
    parseSeconds: z.number().positive().default(60),
    parseAttempts: z.number().int().positive().default(3),
    ackWindowDays: z.number().positive().default(7),
    acksPerHour: z.number().int().positive().default(100),
    /** How long an acknowledgement waits for the message's video jobs to end before it goes out anyway. */
    ackWaitMinutes: z.number().nonnegative().default(30),
    /** A queued acknowledgement not sent within this many hours (SMTP down) is dropped, not sent late. */
    ackMaxAgeHours: z.number().positive().default(72),
  })
  .strict();

export const StorySchema = z
  .object({
    number: z.number().int().positive(),
    title: z.string().min(1),
    victim: z.string().nullable().default(null),
    aliases: z.array(z.string().min(1)).default([]),
    publishedOn: isoDate,
    announcementMessageId: z.string().optional(),
    familyContact: email.optional(),
  })
  .strict();

export const CampaignSchema = z
  .object({
    name: z.string().min(1),
    hashtag: z.string().regex(/^#\S+$/, 'must start with # and hold no spaces'),
    timezone: timeZone,
    startDate: isoDate,
    finalDate: isoDate,
    addresses: z.array(email).min(1),
    ackFrom: email,
    /** The acknowledgement's language when the supporter's is not detected. */
    ackLanguage: z.enum(['tg', 'ru', 'en']).default('en'),
    /** SMTP envelope sender (MAIL FROM) of outgoing mail; unset: the null sender <>, so nothing bounces back. */
    bounceAddress: email.optional(),
    staff: z.array(email).default([]),
    digestHour: z.number().int().min(0).max(23),
    stories: z.array(StorySchema).min(1),
    limits: LimitsSchema.default(LimitsSchema.parse({})),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.finalDate < c.startDate) ctx.addIssue({ code: 'custom', path: ['finalDate'], message: 'is before startDate' });
    const seen = new Set<number>();
    c.stories.forEach((s, i) => {
      if (seen.has(s.number))
        ctx.addIssue({ code: 'custom', path: ['stories', i, 'number'], message: `story ${s.number} is listed twice` });
      seen.add(s.number);
    });
  });

export type Campaign = z.infer<typeof CampaignSchema>;
export type Limits = z.infer<typeof LimitsSchema>;
export type Story = z.infer<typeof StorySchema>;

const urlWithProtocols = (protocols: string[]) =>
  z.string().refine((s) => {
    try {
      return protocols.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => p + '//').join(' or ')}`);

const positiveNumber = z.coerce.number().positive();

const EnvSchema = z.object({
  INTAKE_DATA_DIR: z.string().min(1).default('./data'),
  INTAKE_CAMPAIGN: z.string().min(1).optional(),
  DATABASE_URL: urlWithProtocols(['postgres:', 'postgresql:']).optional(),
  IMAP_URL: urlWithProtocols(['imap:', 'imaps:']).optional(),
  IMAP_ACCESS_TOKEN: z.string().min(1).optional(),
  IMAP_MOVE_TO: z.string().min(1).optional(),
  IMAP_POLL_SECONDS: positiveNumber.default(60),
  IMAP_IDLE_RESTART_SECONDS: positiveNumber.default(300),
  IMAP_SOCKET_TIMEOUT_SECONDS: positiveNumber.optional(),
  IMAP_TLS_CA_FILE: z.string().min(1).optional(),
  INBOX_POLL_SECONDS: positiveNumber.default(2),
  SMTP_URL: urlWithProtocols(['smtp:', 'smtps:']).optional(),
  SMTP_SOCKET_TIMEOUT_SECONDS: positiveNumber.default(60),
  FFMPEG_PATH: z.string().min(1).optional(),
  FFPROBE_PATH: z.string().min(1).optional(),
  MEDIA_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(1),
  MEDIA_LEASE_SECONDS: positiveNumber.default(60),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface ImapConfig {
  url: URL;
  host: string;
  port: number;
  secure: boolean;
  user: string;
  password?: string;
  accessToken?: string;
  mailbox: string;
  moveTo?: string;
  pollSeconds: number;
  idleRestartSeconds: number;
  /** No reply for this long and the connection is given up (greeting, a command, a silently dead IDLE). */
  socketTimeoutSeconds: number;
  tlsCaFile?: string;
}

export interface Config {
  dataDir: string;
  campaignPath: string;
  campaign: Campaign;
  databaseUrl?: string;
  imap?: ImapConfig;
  inboxPollSeconds: number;
  smtpUrl?: string;
  /** No reply for this long and the SMTP connection is given up (connecting and the greeting: at most 30 s). */
  smtpSocketTimeoutSeconds: number;
  ffmpegPath?: string;
  ffprobePath?: string;
  /** Media jobs running at once (ffmpeg processes). */
  mediaConcurrency: number;
  /** How long a claimed media job stays ours without a renewal (a crashed worker's job is retried after it). */
  mediaLeaseSeconds: number;
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
}

function describeIssues(prefix: string, issues: z.core.$ZodIssue[]): string[] {
  return issues.map((i) => {
    const where = [prefix, ...i.path.map(String)].filter(Boolean).join('.');
    if (i.code === 'unrecognized_keys') return `${where}: unknown key(s) ${i.keys.join(', ')}`;
    return `${where}: ${i.message}`;
  });
}

export function loadCampaign(file: string): Campaign {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new IntakeError('CONFIG', `INTAKE_CAMPAIGN: cannot read the campaign file ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new IntakeError('CONFIG', `INTAKE_CAMPAIGN: ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = CampaignSchema.safeParse(json);
  if (!parsed.success) {
    const lines = describeIssues('campaign', parsed.error.issues);
    throw new IntakeError('CONFIG', `the campaign file ${file} has problems:\n  ${lines.join('\n  ')}`, {
      details: { problems: lines },
    });
  }
  return parsed.data;
}

function imapFrom(url: string, env: z.infer<typeof EnvSchema>): ImapConfig {
  const u = new URL(url);
  const secure = u.protocol === 'imaps:';
  const mailbox = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'INBOX';
  const user = decodeURIComponent(u.username);
  if (!user) throw new IntakeError('CONFIG', 'IMAP_URL: has no user name (imaps://user:password@host:993/INBOX)');
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  if (!password && !env.IMAP_ACCESS_TOKEN)
    throw new IntakeError('CONFIG', 'IMAP_URL: has no password, and IMAP_ACCESS_TOKEN is not set either');
  return {
    url: u,
    host: u.hostname,
    port: u.port ? Number(u.port) : secure ? 993 : 143,
    secure,
    user,
    password,
    accessToken: env.IMAP_ACCESS_TOKEN,
    mailbox,
    moveTo: env.IMAP_MOVE_TO,
    pollSeconds: env.IMAP_POLL_SECONDS,
    idleRestartSeconds: env.IMAP_IDLE_RESTART_SECONDS,
    socketTimeoutSeconds: env.IMAP_SOCKET_TIMEOUT_SECONDS ?? Math.max(60, env.IMAP_IDLE_RESTART_SECONDS * 2),
    tlsCaFile: env.IMAP_TLS_CA_FILE,
  };
}

/** Reads and validates every setting; throws one IntakeError('CONFIG') listing all problems by name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const parsed = EnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const lines = describeIssues('', parsed.error.issues);
    throw new IntakeError('CONFIG', `configuration problems:\n  ${lines.join('\n  ')}`, { details: { problems: lines } });
  }
  const e = parsed.data;
  const campaignPath = path.resolve(e.INTAKE_CAMPAIGN ?? DEFAULT_CAMPAIGN);
  const campaign = loadCampaign(campaignPath);
  return Object.freeze({
    dataDir: path.resolve(e.INTAKE_DATA_DIR),
    campaignPath,
    campaign,
    databaseUrl: e.DATABASE_URL,
    imap: e.IMAP_URL ? imapFrom(e.IMAP_URL, e) : undefined,
    inboxPollSeconds: e.INBOX_POLL_SECONDS,
    smtpUrl: e.SMTP_URL,
    smtpSocketTimeoutSeconds: e.SMTP_SOCKET_TIMEOUT_SECONDS,
    ffmpegPath: e.FFMPEG_PATH,
    ffprobePath: e.FFPROBE_PATH,
    mediaConcurrency: e.MEDIA_CONCURRENCY,
    mediaLeaseSeconds: e.MEDIA_LEASE_SECONDS,
    logLevel: e.LOG_LEVEL,
  });
}
