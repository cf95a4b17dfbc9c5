// sshd's StrictModes, decided from what the gather script saw (pure): sshd ignores
// ~/.ssh/authorized_keys when the file, ~/.ssh or the home directory is writable by group or others,
// or belongs to someone other than the user or root. Provision fixes what is its own to fix (~/.ssh
// to 700 in the gather script; the managed files by rewriting them 600) and names the rest with the
// exact command, because changing a home directory or another user's files is the operator's call.
import { quote } from '../remote/shell.js';

/** Mode and owner of one path, as `stat -c %a:%u` printed it. */
export interface PathFacts {
  mode: number;
  owner: number;
}

export interface StrictModesFacts {
  uid: number;
  /** The home directory's physical path (for the fix the operator will type). */
  home: string;
  /** Keyed `home`, `.ssh` or a managed file's name; absent when the path does not exist. */
  perms: Record<string, PathFacts>;
}

export interface StrictModesVerdict {
  /** What sshd refuses and provision will not change: the robot fails with each reason and its fix. */
  refused: { reason: string; fix: string }[];
  /** ~/.ssh belongs to someone else: nothing can be written there. */
  sshDirForeign: boolean;
}

const WRITABLE_BY_OTHERS = 0o022;

function whoCanWrite(mode: number) {
  const g = (mode & 0o020) !== 0;
  const o = (mode & 0o002) !== 0;
  return g && o ? 'group and others' : g ? 'its group' : 'others';
}

export function judgeStrictModes(facts: StrictModesFacts, user: string): StrictModesVerdict {
  const refused: StrictModesVerdict['refused'] = [];
  const home = facts.perms.home;
  const sshPath = `${facts.home.replace(/\/$/, '')}/.ssh`;
  if (home && home.owner !== facts.uid && home.owner !== 0) {
    refused.push({
      reason: `the home directory ${facts.home} belongs to uid ${home.owner}, not to ${user}: sshd ignores ~/.ssh/authorized_keys (StrictModes); provision does not change a home's owner`,
      fix: `sudo chown ${quote(user)} ${quote(facts.home)}`,
    });
  }
  if (home && (home.mode & WRITABLE_BY_OTHERS) !== 0) {
    refused.push({
      reason: `the home directory ${facts.home} is writable by ${whoCanWrite(home.mode)} (mode ${home.mode.toString(8)}): sshd ignores ~/.ssh/authorized_keys (StrictModes); provision does not change a home's mode`,
      fix: `${home.owner === facts.uid ? '' : 'sudo '}chmod go-w ${quote(facts.home)}`,
    });
  }
  const ssh = facts.perms['.ssh'];
  const sshDirForeign = ssh !== undefined && ssh.owner !== facts.uid;
  if (sshDirForeign) {
    refused.push({
      reason: `${sshPath} belongs to uid ${ssh.owner}, not to ${user}: provision cannot write its files there and does not change its owner`,
      fix: `sudo chown -R ${quote(user)} ${quote(sshPath)}`,
    });
  }
  return { refused, sshDirForeign };
}

/** Why a managed file needs rewriting even when its content is right (sshd accepts root's; the rename makes it the user's, 600). */
export function fileNeedsFix(facts: PathFacts | undefined, uid: number): string | null {
  if (!facts) return null;
  if (facts.owner !== uid && facts.owner !== 0) return `owner uid ${facts.owner} → ${uid}`;
  if (facts.mode !== 0o600) return `mode ${facts.mode.toString(8)} → 600`;
  return null;
}
