/** Signing and checksum files: the public surface of src/sign. */
export { type WrittenKeyPair, readPrivateKeyFile, readPublicKeyFile, writeSigningKeyFiles } from './key-files.js'
export { type SigningKeyPair, generateSigningKey, parsePrivateKey, publicKeyPemOf, signChecksums } from './keys.js'
