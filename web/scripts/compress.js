// Writes FILE.gz beside every compressible file of the build, so the server
// can send it as is (Content-Encoding: gzip) without compressing per request.
// Usage: node scripts/compress.js dist
import { readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants } from 'node:zlib';

const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json|webmanifest|txt)$/;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p);
    else if (COMPRESSIBLE.test(name) && st.size >= 256) {
      const gz = gzipSync(readFileSync(p), { level: constants.Z_BEST_COMPRESSION });
      if (gz.length < st.size) writeFileSync(p + '.gz', gz);
    }
  }
}

walk(process.argv[2] || 'dist');
