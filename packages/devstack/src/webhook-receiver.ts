// Local stand-in for the Telegram-style alert bridge: Alertmanager posts here, every notification is
// appended as one JSON line, and GET /alerts returns them so tests and `devstack status` can read them.
// usage: tsx webhook-receiver.ts <host> <port> <jsonl-file>
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [host = '127.0.0.1', port = '9095', file = 'alerts.jsonl'] = process.argv.slice(2);

createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/alerts') {
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`[${lines.join(',')}]`);
    return;
  }
  if (req.method === 'GET' && req.url === '/healthz') {
    res.end('ok\n');
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405).end();
    return;
  }
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    try {
      const payload = JSON.parse(body) as unknown;
      appendFileSync(file, `${JSON.stringify({ receivedAt: new Date().toISOString(), path: req.url, payload })}\n`);
      res.end('ok\n');
    } catch {
      res.writeHead(400).end('invalid JSON\n');
    }
  });
}).listen(Number(port), host, () => console.log(`alert webhook receiver on ${host}:${port}, writing ${file}`));
