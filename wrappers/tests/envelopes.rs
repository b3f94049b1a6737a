//! Property tests of the envelope decoders: arbitrary bytes give an error (or, for frames that
//! happen to be valid, a value), never a panic; real envelopes round-trip.

#![cfg(all(feature = "encryption", feature = "compression"))]

use mcp_kv_core::{Bytes, ErrorKind};
use mcp_kv_wrappers::compression;
use mcp_kv_wrappers::encryption::{self, EncryptionKey, Keyring, FORMAT_V1, OVERHEAD};
use proptest::prelude::*;

fn ring() -> Keyring {
    Keyring::new(EncryptionKey::from_bytes(1, &[7u8; 32]).unwrap())
        .with_old_key(EncryptionKey::from_bytes(0, &[8u8; 32]).unwrap())
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encryption_open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let r = encryption::open(&ring(), "c", "k", &bytes);
        prop_assert_eq!(r.unwrap_err().kind(), ErrorKind::Decryption);
    }

    #[test]
    fn encryption_open_of_envelope_shaped_noise_fails(
        id in 0u32..3,
        body in proptest::collection::vec(any::<u8>(), OVERHEAD - 5..300),
    ) {
        let mut bytes = vec![FORMAT_V1];
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend_from_slice(&body);
        let r = encryption::open(&ring(), "c", "k", &bytes);
        prop_assert_eq!(r.unwrap_err().kind(), ErrorKind::Decryption);
    }

    #[test]
    fn encryption_round_trips_and_tampering_fails(
        value in proptest::collection::vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let ring = ring();
        let sealed = encryption::seal(&ring, "c", "k", &value).unwrap();
        prop_assert_eq!(encryption::open(&ring, "c", "k", &sealed).unwrap(), Bytes::from(value));
        let mut tampered = sealed.to_vec();
        let i = flip.index(tampered.len());
        tampered[i] ^= 1 << bit;
        prop_assert!(encryption::open(&ring, "c", "k", &tampered).is_err());
    }

    #[test]
    fn compression_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        match compression::decode(&Bytes::from(bytes), 1 << 20) {
            Ok(v) => prop_assert!(v.len() <= 1 << 20),
            Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Corrupted),
        }
    }

    #[test]
    fn compression_decode_of_lz4_shaped_noise_never_panics(
        len in any::<u32>(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = vec![compression::LZ4];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&body);
        match compression::decode(&Bytes::from(bytes), 1 << 16) {
            Ok(v) => prop_assert_eq!(v.len() as u64, u64::from(len)),
            Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Corrupted),
        }
    }

    #[test]
    fn compression_round_trips(
        value in proptest::collection::vec(0u8..4, 0..3000),
        threshold in 0usize..512,
    ) {
        let frame = compression::encode(&value, threshold);
        prop_assert!(frame.len() <= value.len() + 1);
        prop_assert_eq!(compression::decode(&frame, 1 << 20).unwrap(), Bytes::from(value));
    }
}
