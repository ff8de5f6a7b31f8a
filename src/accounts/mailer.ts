/**
 * Outgoing mail (invitations) through the operator's SMTP server, when SMTP_URL is set.
 * Without it, Switchyard shows the invitation link to the inviter instead.
 */
import nodemailer from 'nodemailer';
import { SwitchyardError } from '../model/errors.ts';

export type Mail = { to: string; subject: string; text: string };
export type Mailer = { send(mail: Mail): Promise<void> };

/** smtp://user:pass@host:587 (STARTTLS when offered) or smtps://…:465 (TLS from the start). */
export function createSmtpMailer(p: { url: string; from: string; timeoutMs: number }): Mailer {
  const u = new URL(p.url);
  const transport = nodemailer.createTransport({
    host: u.hostname,
    port: Number(u.port || (u.protocol === 'smtps:' ? 465 : 587)),
    secure: u.protocol === 'smtps:',
    ...(u.username
      ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } }
      : {}),
    connectionTimeout: p.timeoutMs,
    greetingTimeout: p.timeoutMs,
    socketTimeout: p.timeoutMs,
  });
  return {
    async send(mail) {
      try {
        await transport.sendMail({
          from: p.from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
        });
      } catch (err) {
        // The transport's message may quote the server; never the credentials (they are not in it).
        throw new SwitchyardError(
          'E_MAIL_UNAVAILABLE',
          `The mail server at ${u.hostname}:${u.port || '(default port)'} did not accept the message: ${(err as Error).message}`,
          {},
          err,
        );
      }
    },
  };
}
