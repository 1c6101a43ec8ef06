// The MCP server tested with the official TypeScript SDK's Client
// (@modelcontextprotocol/sdk, installed in tests/mcp/node_modules by
// scripts/build-mcp-tests), over both transports: streamable HTTP at
// POST /mcp, and stdio through `personalos mcp`, against the real binary on
// a free port with a temporary data directory and the built-in responder.
//
//   POS_BIN=build/personalos node tests/mcp/sdk_test.mjs
//
// Exit status: 0 passed, 1 failed, 77 skipped (no SDK or no binary).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const BIN = path.resolve(process.env.POS_BIN || path.join(ROOT, 'build/personalos'));

function skip(why) {
  console.log('SKIP: ' + why);
  process.exit(77);
}
if (!existsSync(BIN)) skip(`no binary at ${BIN}`);
let Client, StreamableHTTPClientTransport, StdioClientTransport;
try {
  // bare specifiers resolve in tests/mcp/node_modules, beside this file
  ({ Client } = await import('@modelcontextprotocol/sdk/client/index.js'));
  ({ StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js'));
  ({ StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js'));
} catch (e) {
  skip('@modelcontextprotocol/sdk is not installed (run scripts/build-mcp-tests): ' + e.message);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let failures = 0, passed = 0;
function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}
async function step(name, fn) {
  try {
    await fn();
    passed++;
    console.log('ok   ' + name);
  } catch (e) {
    failures++;
    console.log('FAIL ' + name + ': ' + (e && e.stack ? e.stack : e));
  }
}

// ---- the server ----

const children = [];
const tmpDirs = [];
function cleanup() {
  for (const p of children) if (p.exitCode === null) p.kill('SIGTERM');
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanup);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function startStub() {
  return new Promise((resolve, reject) => {
    const p = spawn('python3', [path.join(ROOT, 'tests/stubs/openai_stub.py'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(p);
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/PORT (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    p.once('exit', (c) => reject(new Error('openai stub exited with ' + c)));
  });
}

async function startServer(extraEnv = {}) {
  const port = await freePort();
  const data = mkdtempSync(path.join(os.tmpdir(), 'pos-mcp-'));
  tmpDirs.push(data);
  const env = { ...process.env, PERSONALOS_PWHASH_OPSLIMIT: '1', PERSONALOS_PWHASH_MEMLIMIT_KIB: '8192', PERSONALOS_LOG_REQUESTS: 'off' };
  delete env.PERSONALOS_LLM_URL;
  Object.assign(env, extraEnv);
  const p = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', data], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(p);
  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if (p.exitCode !== null) throw new Error('server exited with ' + p.exitCode);
    try {
      if ((await fetch(base + '/health')).ok) return base;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error('server did not answer /health');
}

async function call(base, method, p, body, token, headers = {}) {
  const h = { ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (token) h.Authorization = 'Bearer ' + token;
  const r = await fetch(base + p, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: r.status, json, text, headers: r.headers };
}

const base = await startServer();
const email = `mcp-${Date.now()}@example.org`;
const reg = await call(base, 'POST', '/api/auth/register', { email, password: 'correct horse battery' });
assert(reg.status === 201, 'register: ' + reg.text);
const session = reg.json.access_token;
async function apiToken(scope) {
  const r = await call(base, 'POST', '/api/auth/tokens', { name: 'mcp ' + scope, scope }, session);
  assert(r.status === 201, 'token: ' + r.text);
  return r.json.token;
}
const writeToken = await apiToken('write');
const readToken = await apiToken('read');

function httpClient(token) {
  const transport = new StreamableHTTPClientTransport(new URL(base + '/mcp'), {
    requestInit: { headers: token ? { Authorization: 'Bearer ' + token } : {} },
  });
  return { client: new Client({ name: 'personalos-test', version: '1.0.0' }), transport };
}
function stdioClient(token) {
  const transport = new StdioClientTransport({
    command: BIN,
    args: ['mcp'],
    env: { PERSONALOS_URL: base, PERSONALOS_TOKEN: token, HOME: tmpDirs[0], PATH: process.env.PATH || '' },
    stderr: 'inherit',
  });
  return { client: new Client({ name: 'personalos-test-stdio', version: '1.0.0' }), transport };
}
const parsed = (res) => {
  assert(Array.isArray(res.content) && res.content[0].type === 'text', 'text content');
  return JSON.parse(res.content[0].text);
};

const WRITE_TOOLS = ['add_memory', 'update_memory', 'delete_memory', 'ask', 'link_memories'];
const READ_TOOLS = ['search_memories', 'get_memory', 'list_recent', 'get_stats'];

// ---- streamable HTTP, write token ----

let memId, otherId;
{
  const { client, transport } = httpClient(writeToken);
  await step('http: connect and negotiate a version', async () => {
    await client.connect(transport);
    assert(client.getServerVersion().name === 'personalos', 'server name');
    assert(client.getServerCapabilities().tools, 'tools capability');
    assert(client.getServerCapabilities().resources, 'resources capability');
    assert(client.getServerCapabilities().prompts, 'prompts capability');
    assert(transport.protocolVersion === '2025-11-25', 'negotiated ' + transport.protocolVersion);
    await client.ping();
  });
  await step('http: tools/list has every tool with a schema and description', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    assert(JSON.stringify(names) === JSON.stringify([...WRITE_TOOLS, ...READ_TOOLS].sort()), 'tools ' + names);
    for (const t of tools) {
      assert(t.description && t.description.length > 10, t.name + ' description');
      assert(t.inputSchema && t.inputSchema.type === 'object', t.name + ' schema');
    }
    const add = tools.find((t) => t.name === 'add_memory');
    assert(add.inputSchema.required.includes('content'), 'add_memory requires content');
    assert(add.annotations.readOnlyHint === false, 'add_memory is not read-only');
  });
  await step('http: add_memory, then search_memories finds it', async () => {
    const res = await client.callTool({ name: 'add_memory', arguments: { content: 'The pelican named Ottoline lives by the harbour in Lisbon', tags: ['birds'], type: 'note' } });
    assert(!res.isError, 'add: ' + JSON.stringify(res));
    const m = parsed(res);
    assert(res.structuredContent.id === m.id, 'structured content matches');
    assert(m.source === 'mcp' && m.tags.includes('birds'), 'stored as sent: ' + JSON.stringify(m));
    memId = m.id;
    const found = await client.callTool({ name: 'search_memories', arguments: { query: 'Ottoline pelican' } });
    assert(!found.isError, 'search');
    assert(parsed(found).memories.some((x) => x.id === memId), 'the memory is found');
    const other = await client.callTool({ name: 'add_memory', arguments: { content: 'Lisbon trip planned for May: visit the harbour' } });
    otherId = parsed(other).id;
  });
  await step('http: the memory is in the REST API too', async () => {
    const r = await call(base, 'GET', '/api/memories/' + memId, undefined, writeToken);
    assert(r.status === 200 && r.json.content.includes('Ottoline'), 'REST get ' + r.status);
  });
  await step('http: get, update, link, list_recent, get_stats', async () => {
    const got = parsed(await client.callTool({ name: 'get_memory', arguments: { id: memId } }));
    assert(got.id === memId, 'get');
    const up = parsed(await client.callTool({ name: 'update_memory', arguments: { id: memId, importance_score: 0.9 } }));
    assert(up.importance_score === 0.9 && up.content.includes('Ottoline'), 'update keeps content');
    const linked = parsed(await client.callTool({ name: 'link_memories', arguments: { memory_id: memId, related_memory_id: otherId } }));
    assert(linked.related_memory_ids.includes(otherId), 'linked: ' + JSON.stringify(linked.related_memory_ids));
    const recent = parsed(await client.callTool({ name: 'list_recent', arguments: { limit: 1 } }));
    assert(recent.memories.length === 1 && recent.total >= 2, 'recent');
    const stats = parsed(await client.callTool({ name: 'get_stats', arguments: {} }));
    assert(stats.total >= 2, 'stats ' + JSON.stringify(stats));
  });
  await step('http: ask answers and cites memory ids', async () => {
    const res = await client.callTool({ name: 'ask', arguments: { question: 'Where does Ottoline the pelican live?' } });
    assert(!res.isError, 'ask: ' + JSON.stringify(res));
    const a = parsed(res);
    assert(typeof a.answer === 'string' && a.answer.length > 0, 'an answer');
    assert(a.cited_memory_ids.includes(memId), 'cites the memory: ' + JSON.stringify(a));
  });
  await step('http: errors are tool results with the API error code', async () => {
    const res = await client.callTool({ name: 'get_memory', arguments: { id: '00000000-0000-4000-8000-000000000000' } });
    assert(res.isError === true && res.structuredContent.error.code === 'not_found', JSON.stringify(res));
    const big = await client.callTool({ name: 'add_memory', arguments: { content: 'x'.repeat(1024 * 1024 + 1) } });
    assert(big.isError === true && big.structuredContent.error.code === 'content_too_large', JSON.stringify(big.structuredContent));
    const missing = await client.callTool({ name: 'search_memories', arguments: {} });
    assert(missing.isError === true && missing.structuredContent.error.code === 'missing_field', 'missing query');
    let threw = false;
    try {
      await client.callTool({ name: 'no_such_tool', arguments: {} });
    } catch {
      threw = true;
    }
    assert(threw, 'an unknown tool is a protocol error');
  });
  await step('http: resources list and read memory://{id} and the persona', async () => {
    const { resources } = await client.listResources();
    assert(resources.some((r) => r.uri === 'memory://' + memId), 'memory listed');
    assert(resources.some((r) => r.uri === 'personalos://persona'), 'persona listed');
    const { resourceTemplates } = await client.listResourceTemplates();
    assert(resourceTemplates.some((t) => t.uriTemplate === 'memory://{id}'), 'template');
    const r = await client.readResource({ uri: 'memory://' + memId });
    assert(JSON.parse(r.contents[0].text).id === memId, 'read memory');
    const p = await client.readResource({ uri: 'personalos://persona' });
    assert(typeof JSON.parse(p.contents[0].text) === 'object', 'persona');
    let threw = false;
    try {
      await client.readResource({ uri: 'memory://nope' });
    } catch {
      threw = true;
    }
    assert(threw, 'unknown resource');
  });
  await step('http: prompts recall and remember', async () => {
    const { prompts } = await client.listPrompts();
    assert(prompts.map((p) => p.name).sort().join() === 'recall,remember', 'prompts');
    const recall = await client.getPrompt({ name: 'recall', arguments: { topic: 'Ottoline pelican' } });
    assert(recall.messages[0].content.text.includes(memId), 'recall embeds the memory');
    const remember = await client.getPrompt({ name: 'remember', arguments: { text: 'buy oat milk' } });
    assert(remember.messages[0].content.text.includes('buy oat milk'), 'remember');
  });
  await step('http: delete_memory', async () => {
    const res = await client.callTool({ name: 'delete_memory', arguments: { id: otherId } });
    assert(!res.isError && parsed(res).deleted === true, 'deleted');
    const r = await call(base, 'GET', '/api/memories/' + otherId, undefined, writeToken);
    assert(r.status === 404, 'gone');
  });
  await client.close();
}

// ---- streamable HTTP, read token: scope enforcement ----
{
  const { client, transport } = httpClient(readToken);
  await step('http read token: only read tools, writes refused', async () => {
    await client.connect(transport);
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    assert(JSON.stringify(names) === JSON.stringify([...READ_TOOLS].sort()), 'read tools only: ' + names);
    const res = await client.callTool({ name: 'add_memory', arguments: { content: 'should not be stored' } });
    assert(res.isError === true && res.structuredContent.error.code === 'forbidden', JSON.stringify(res));
    const found = await client.callTool({ name: 'search_memories', arguments: { query: 'Ottoline' } });
    assert(parsed(found).memories.some((m) => m.id === memId), 'reads work');
    const r = await call(base, 'GET', '/api/memories/search?query=should%20not%20be%20stored&mode=keyword', undefined, writeToken);
    assert(r.json.memories.length === 0, 'nothing was stored');
  });
  await client.close();
}

await step('http: no token is refused', async () => {
  const { client, transport } = httpClient(null);
  let threw = false;
  try {
    await client.connect(transport);
  } catch {
    threw = true;
  }
  assert(threw, 'connect without a token fails');
});

// ---- the raw protocol ----
await step('raw: negotiation, notifications, batches, bad input', async () => {
  const H = { Accept: 'application/json, text/event-stream' };
  const init = (v) => ({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: v, capabilities: {}, clientInfo: { name: 'raw', version: '0' } } });
  let r = await call(base, 'POST', '/mcp', init('2025-06-18'), writeToken, H);
  assert(r.status === 200 && r.json.result.protocolVersion === '2025-06-18', 'previous revision accepted');
  r = await call(base, 'POST', '/mcp', init('2024-11-05'), writeToken, H);
  assert(r.json.result.protocolVersion === '2025-11-25', 'old revision answered with the current one');
  r = await call(base, 'POST', '/mcp', { jsonrpc: '2.0', method: 'notifications/initialized' }, writeToken, H);
  assert(r.status === 202 && r.text === '', 'notification accepted');
  r = await call(base, 'POST', '/mcp', { jsonrpc: '2.0', id: 'x', method: 'nope' }, writeToken, H);
  assert(r.json.error.code === -32601 && r.json.id === 'x', 'unknown method');
  r = await call(base, 'POST', '/mcp', [{ jsonrpc: '2.0', id: 1, method: 'ping' }], writeToken, H);
  assert(r.status === 400 && r.json.error.code === -32600, 'batch refused');
  r = await call(base, 'POST', '/mcp', '{"jsonrpc": "2.0", "id": 1, "meth', writeToken, H);
  assert(r.status === 400 && r.json.error.code === -32700, 'parse error');
  r = await call(base, 'POST', '/mcp', { jsonrpc: '2.0', id: 2, method: 'ping' }, writeToken, { ...H, 'MCP-Protocol-Version': '1999-01-01' });
  assert(r.status === 400, 'unsupported version header');
  r = await call(base, 'POST', '/mcp', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'add_memory', arguments: 'text' } }, writeToken, H);
  assert(r.json.result.isError === true, 'arguments must be an object');
  r = await call(base, 'GET', '/mcp', undefined, writeToken, { Accept: 'text/event-stream' });
  assert(r.status === 405, 'no server stream');
  r = await call(base, 'POST', '/mcp', { jsonrpc: '2.0', id: 4, method: 'ping' }, undefined, H);
  assert(r.status === 401, 'no token: 401');
  r = await call(base, 'POST', '/mcp', { jsonrpc: '2.0', id: 5, method: 'ping' }, writeToken, { ...H, Origin: 'http://rebound.example' });
  assert(r.status === 403, 'a foreign Origin is refused (DNS rebinding)');
  r = await call(base, 'POST', '/mcp', { jsonrpc: '2.0', id: 6, method: 'ping' }, writeToken, { ...H, Origin: base });
  assert(r.status === 200, 'the server\'s own origin is fine');
});

// ---- stdio: `personalos mcp` relaying to the server ----
{
  const { client, transport } = stdioClient(writeToken);
  await step('stdio: connect, list tools, add and find a memory, ask', async () => {
    await client.connect(transport);
    assert(client.getServerVersion().name === 'personalos', 'server name');
    const { tools } = await client.listTools();
    assert(tools.length === WRITE_TOOLS.length + READ_TOOLS.length, 'all tools');
    const added = await client.callTool({ name: 'add_memory', arguments: { content: 'Stdio note: the spare key is under the blue flowerpot' } });
    assert(!added.isError, 'add');
    const id = parsed(added).id;
    const found = await client.callTool({ name: 'search_memories', arguments: { query: 'spare key flowerpot' } });
    assert(parsed(found).memories.some((m) => m.id === id), 'found over stdio');
    const a = parsed(await client.callTool({ name: 'ask', arguments: { question: 'Where is the spare key?' } }));
    assert(a.cited_memory_ids.includes(id), 'ask cites it');
  });
  await client.close();
}
{
  const { client, transport } = stdioClient(readToken);
  await step('stdio read token: writes refused', async () => {
    await client.connect(transport);
    const res = await client.callTool({ name: 'add_memory', arguments: { content: 'nope' } });
    assert(res.isError === true && res.structuredContent.error.code === 'forbidden', 'forbidden');
  });
  await client.close();
}
{
  const { client, transport } = stdioClient('not-a-token');
  await step('stdio bad token: a JSON-RPC error, not a hang', async () => {
    let threw = false;
    try {
      await client.connect(transport);
    } catch (e) {
      threw = /401|token/i.test(String(e && e.message));
    }
    assert(threw, 'initialize fails with the reason');
  });
  await client.close().catch(() => {});
}

// ---- ask with a real (stand-in) model: run off the request thread ----
await step('http: ask with an OpenAI-compatible model (deferred answer)', async () => {
  const stubPort = await startStub();
  const base2 = await startServer({ PERSONALOS_LLM_URL: `http://127.0.0.1:${stubPort}/v1`, PERSONALOS_LLM_MODEL: 'stub-chat' });
  const r = await call(base2, 'POST', '/api/auth/register', { email: 'llm-' + email, password: 'correct horse battery' });
  const t = await call(base2, 'POST', '/api/auth/tokens', { name: 'mcp', scope: 'write' }, r.json.access_token);
  const transport = new StreamableHTTPClientTransport(new URL(base2 + '/mcp'), { requestInit: { headers: { Authorization: 'Bearer ' + t.json.token } } });
  const client = new Client({ name: 'personalos-test-llm', version: '1.0.0' });
  await client.connect(transport);
  const added = parsed(await client.callTool({ name: 'add_memory', arguments: { content: 'My bicycle is a green Brompton with a dynamo light' } }));
  const res = await client.callTool({ name: 'ask', arguments: { question: 'What bicycle do I ride?' } });
  assert(!res.isError, 'ask: ' + JSON.stringify(res));
  const a = parsed(res);
  assert(a.answer.length > 0 && a.model.startsWith('openai:'), 'answered by the model: ' + JSON.stringify(a));
  assert(a.cited_memory_ids.includes(added.id), 'cites the memory');
  await client.close();
});

console.log(`${passed} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
