/** Signing and checksum files: the public surface of src/sign. */
export { type WrittenKeyPair, readPrivateKeyFile, readPublicKeyFile, writeSigningKeyFiles } from './key-files.js'
export {
  SIGNATURE_LENGTH,
  type SigningKeyPair,
  generateSigningKey,
  parsePrivateKey,
  parsePublicKey,
  publicKeyFingerprint,
  publicKeyPemOf,
  signChecksums,
  verifyChecksumsSignature,
} from './keys.js'
