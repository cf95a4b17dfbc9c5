import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoginMemory, loginTarget } from '../../src/ssh/loginMemory.js';

const A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const B = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

describe('remembered logins', () => {
  it('reads what a run saved, keeps what another run saved meanwhile, forgets a login a password made', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'provision-logins-')), 'state', 'logins');
    const ida = loginTarget('ida', '10.88.0.12', 22);
    const otto = loginTarget('otto', '10.88.0.13', 2222);
    const first = new LoginMemory(file);
    expect(first.get(ida)).toBeUndefined();
    first.remember(ida, A);
    first.save();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = new LoginMemory(file);
    expect(second.get(ida)).toBe(A);
    // another run saves Otto meanwhile; this one's save keeps it
    const other = new LoginMemory(file);
    other.remember(otto, B);
    other.save();
    second.remember(ida, null); // a password logged in: the remembered key no longer works there
    second.save();
    const after = new LoginMemory(file);
    expect(after.get(ida)).toBeUndefined();
    expect(after.get(otto)).toBe(B);
    expect(readFileSync(file, 'utf8')).toBe(`otto@10.88.0.13:2222 ${B}\n`);
  });

  it('a torn or foreign line is ignored, not trusted', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'provision-logins-')), 'logins');
    writeFileSync(file, `ida@10.88.0.12:22 ${A}\nida@10.88.0.13 ${B}\n$(touch x) ${B}\notto@10.88.0.13:22 ssh-ed25519\n`);
    const memory = new LoginMemory(file);
    expect(memory.get('ida@10.88.0.12:22')).toBe(A);
    expect(memory.get('ida@10.88.0.13')).toBeUndefined();
    expect(memory.get('otto@10.88.0.13:22')).toBeUndefined();
  });
});
