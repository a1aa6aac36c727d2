/**
 * The publisher's own signing keys: `<config>/keys/<NAME>.pem` (Ed25519, PKCS#8 PEM, mode 0600)
 * beside `<NAME>.pub` (`ed25519:<base64>`). Private keys are only ever read to sign here; no
 * command prints or uploads them.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, type KeyObject } from "node:crypto";
import { chmod, mkdir, open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fail, PixelRtsError } from "../../shared/errors.js";
import { publicKeyFromRaw, type PublicKey } from "../../shared/trust/keys.js";
import { ioError, isErrno, writeFileAtomic } from "../fsutil/index.js";

const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function validateKeyName(name: string): string {
  if (!KEY_NAME.test(name)) fail("E_USAGE", `bad key name '${name}': use 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit`);
  return name;
}

export interface SigningKey {
  name: string;
  key: PublicKey;
  /** Signs a message (the DSSE PAE bytes). */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

async function publicOf(k: KeyObject): Promise<PublicKey> {
  const x = createPublicKey(k).export({ format: "jwk" }).x;
  if (!x) fail("E_BAD_KEY", "not an Ed25519 key");
  return publicKeyFromRaw(new Uint8Array(Buffer.from(x, "base64url")));
}

export class Keyring {
  readonly dir: string;
  constructor(configDir: string) {
    this.dir = join(configDir, "keys");
  }

  private pem(name: string): string {
    return join(this.dir, `${validateKeyName(name)}.pem`);
  }

  /** Creates a key; never overwrites one (E_KEY_EXISTS). */
  async generate(name: string): Promise<PublicKey> {
    const path = this.pem(name);
    const { privateKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    let fh;
    try {
      // Exclusive create with 0600 from the start: the private key is never readable by others.
      fh = await open(path, "wx", 0o600);
      await fh.writeFile(pem);
      await fh.sync();
    } catch (e) {
      if (isErrno(e, "EEXIST")) fail("E_KEY_EXISTS", `a key named '${name}' already exists (${path}); pick another name`);
      throw ioError(e, `cannot write ${path}`);
    } finally {
      await fh?.close();
    }
    await chmod(path, 0o600);
    const key = await publicOf(privateKey);
    await writeFileAtomic(join(this.dir, `${name}.pub`), key.text + "\n");
    return key;
  }

  /** Loads a key for signing; E_KEY_UNKNOWN names the keys there are. */
  async load(name: string): Promise<SigningKey> {
    const path = this.pem(name);
    let pem: string;
    try {
      pem = await readFile(path, "utf8");
    } catch (e) {
      if (isErrno(e, "ENOENT")) {
        const have = (await this.list()).map((k) => k.name);
        fail("E_KEY_UNKNOWN", `no signing key named '${name}' (have: ${have.join(", ") || "none; make one with 'pixelrts key generate NAME'"})`);
      }
      throw ioError(e, `cannot read ${path}`);
    }
    let priv: KeyObject;
    try {
      priv = createPrivateKey(pem);
    } catch (e) {
      throw new PixelRtsError("E_BAD_KEY", `${path} is not a PEM private key`, {}, { cause: e });
    }
    if (priv.asymmetricKeyType !== "ed25519") fail("E_BAD_KEY", `${path} is a ${priv.asymmetricKeyType} key, not Ed25519`);
    const key = await publicOf(priv);
    return { name, key, sign: async (m) => new Uint8Array(nodeSign(null, m, priv)) };
  }

  /** Public halves of every key here. */
  async list(): Promise<{ name: string; key: PublicKey }[]> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch (e) {
      if (isErrno(e, "ENOENT")) return [];
      throw ioError(e, `cannot read ${this.dir}`);
    }
    const out: { name: string; key: PublicKey }[] = [];
    for (const f of files.filter((f) => f.endsWith(".pem")).sort()) {
      const name = f.slice(0, -4);
      if (!KEY_NAME.test(name)) continue;
      out.push({ name, key: (await this.load(name)).key });
    }
    return out;
  }
}
