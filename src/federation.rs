//! Federated averaging without HTTP or SQL: checking an update envelope as the Python
//! device agent builds it, and adding updates into a weighted sum as they arrive.
//!
//! The envelope is `json.dumps({"format": "plaintext_json", "sha256", "size", "data"})`
//! where `sha256` and `size` are of `json.dumps(data)`: Python's separators and float
//! repr. Re-serialising `data` would not give those bytes back, so the digest is taken
//! over the exact bytes of the `data` value as sent, as they stream through the parser:
//! an upload is opened one part at a time, never joined ([`PartsReader`]).
//!
//! FedAvg keeps, per round, the sum of `weight × update` and the sum of the weights, so
//! an update costs one pass over its numbers when it arrives, and the aggregate is one
//! division at the end, whatever the number of devices.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use sha2::{Digest, Sha256};

/// The only envelope format devreg aggregates.
pub const PLAINTEXT_JSON: &str = "plaintext_json";

/// The algorithm every result names.
pub const ALGORITHM: &str = "fedavg";

/// Checks an uploaded envelope and returns its update: the format must be
/// `plaintext_json`, `size` and `sha256` must be those of the `data` value's bytes as
/// sent, and `data` must be an array of numbers. The error is a sentence for the client.
pub fn open_envelope(bytes: &[u8]) -> Result<Vec<f64>, String> {
    open_envelope_from(bytes)
}

/// [`open_envelope`] over a reader, in one pass: the `data` value's bytes go through the
/// digest and the number parser as they are read, so opening holds the update's numbers
/// and whatever the reader holds (one part, for [`PartsReader`]), never the envelope.
/// An error of the reader ends it with the envelope's sentence; a caller whose reader can
/// fail for its own reasons (a database) keeps that failure and checks it first.
pub fn open_envelope_from(reader: impl Read) -> Result<Vec<f64>, String> {
    let tap = Rc::new(RefCell::new(DataTap::default()));
    let mut de = serde_json::Deserializer::from_reader(Tapped {
        inner: reader,
        tap: Rc::clone(&tap),
    });
    let parsed = EnvelopeSeed(Rc::clone(&tap))
        .deserialize(&mut de)
        .and_then(|envelope| de.end().map(|()| envelope));
    let envelope = match parsed {
        Ok(envelope) => envelope,
        Err(e) if tap.borrow().failed_in_data => {
            return Err(format!(
                "the envelope's data must be a JSON array of finite numbers: {e}"
            ));
        }
        Err(e) => {
            return Err(format!(
                "the uploaded parts, joined in order, are not an update envelope \
                 ({{\"format\", \"sha256\", \"size\", \"data\"}}): {e}"
            ));
        }
    };
    if envelope.format != PLAINTEXT_JSON {
        return Err(format!(
            "the envelope's format is {}; devreg aggregates only \"{PLAINTEXT_JSON}\" updates \
             (secure aggregation is not supported)",
            serde_json::Value::from(envelope.format)
        ));
    }
    let tap = tap.borrow();
    if envelope.size != tap.size {
        return Err(format!(
            "the envelope's size is {} but its data is {} bytes: the upload is incomplete or \
             was altered",
            envelope.size, tap.size
        ));
    }
    let digest = hex(&tap.digest.clone().finalize());
    if !envelope.sha256.eq_ignore_ascii_case(&digest) {
        return Err(format!(
            "the envelope's sha256 is {} but its data hashes to {digest}: the upload is \
             corrupt or was altered",
            serde_json::Value::from(envelope.sha256)
        ));
    }
    Ok(envelope.data)
}

/// The parts of an upload as one reader, fetching part `n` only when part `n - 1` is read
/// through, after dropping it: the reader holds at most one part at a time.
pub struct PartsReader<P, F> {
    fetch: F,
    next: i64,
    count: i64,
    current: Option<P>,
    at: usize,
}

impl<P: AsRef<[u8]>, F: FnMut(i64) -> io::Result<P>> PartsReader<P, F> {
    /// A reader over parts `0..count`, which `fetch` gives by number.
    pub fn new(count: i64, fetch: F) -> Self {
        PartsReader {
            fetch,
            next: 0,
            count,
            current: None,
            at: 0,
        }
    }
}

impl<P: AsRef<[u8]>, F: FnMut(i64) -> io::Result<P>> Read for PartsReader<P, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(part) = &self.current {
                let rest = &part.as_ref()[self.at..];
                if !rest.is_empty() {
                    let n = rest.len().min(buf.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    self.at += n;
                    return Ok(n);
                }
            }
            if self.next >= self.count {
                return Ok(0);
            }
            // Dropped before the next is fetched, so two parts are never held together.
            self.current = None;
            self.current = Some((self.fetch)(self.next)?);
            self.next += 1;
            self.at = 0;
        }
    }
}

/// What the envelope's reader records of the `data` value while [`DataSeed`] parses it:
/// its exact bytes' length and digest.
#[derive(Default)]
struct DataTap {
    /// Within the `data` value.
    on: bool,
    /// Its first byte has been seen (whitespace before it is not the value's).
    started: bool,
    size: u64,
    digest: Sha256,
    /// The parse failed inside the `data` value.
    failed_in_data: bool,
}

/// A reader that passes the bytes read within `data` to its [`DataTap`]. serde_json's
/// reader deserializer reads one byte at a time and, when the array's `]` is consumed, has
/// read nothing past it: so the tap sees exactly the value's bytes (the tests check it
/// with whitespace and fields on both sides).
struct Tapped<R> {
    inner: R,
    tap: Rc<RefCell<DataTap>>,
}

impl<R: Read> Read for Tapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut tap = self.tap.borrow_mut();
        if tap.on {
            let mut bytes = &buf[..n];
            if !tap.started {
                let skip = bytes
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                    .count();
                bytes = &bytes[skip..];
                tap.started = !bytes.is_empty();
            }
            tap.size += bytes.len() as u64;
            tap.digest.update(bytes);
        }
        Ok(n)
    }
}

struct Envelope {
    format: String,
    sha256: String,
    size: u64,
    data: Vec<f64>,
}

/// Parses the envelope's object in any key order, its `data` through [`DataSeed`].
struct EnvelopeSeed(Rc<RefCell<DataTap>>);

impl<'de> DeserializeSeed<'de> for EnvelopeSeed {
    type Value = Envelope;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Envelope, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed {
    type Value = Envelope;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with format, sha256, size and data")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        fn once<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, v: T) -> Result<(), E> {
            match slot.replace(v) {
                Some(_) => Err(E::duplicate_field(name)),
                None => Ok(()),
            }
        }
        let (mut format, mut sha256, mut size, mut data) = (None, None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => once(&mut format, "format", map.next_value()?)?,
                "sha256" => once(&mut sha256, "sha256", map.next_value()?)?,
                "size" => once(&mut size, "size", map.next_value()?)?,
                "data" if data.is_none() => {
                    data = Some(map.next_value_seed(DataSeed(Rc::clone(&self.0)))?);
                }
                "data" => return Err(de::Error::duplicate_field("data")),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Envelope {
            format: format.ok_or_else(|| de::Error::missing_field("format"))?,
            sha256: sha256.ok_or_else(|| de::Error::missing_field("sha256"))?,
            size: size.ok_or_else(|| de::Error::missing_field("size"))?,
            data: data.ok_or_else(|| de::Error::missing_field("data"))?,
        })
    }
}

/// Parses the `data` value into numbers with the tap on.
struct DataSeed(Rc<RefCell<DataTap>>);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Vec<f64>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<f64>, D::Error> {
        self.0.borrow_mut().on = true;
        let data = Vec::<f64>::deserialize(deserializer);
        let mut tap = self.0.borrow_mut();
        tap.on = false;
        tap.failed_in_data = data.is_err();
        data
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks an update's numbers and clips it to the plan's L2 norm `clip_norm`, as the
/// device agent does before it adds noise (`clip_update`): an update within the norm is
/// kept as sent, a longer one is scaled down to it, so no participant can weigh more than
/// the plan allows. The error is a sentence for the client.
pub fn check_and_clip(update: &mut [f64], clip_norm: f64) -> Result<(), String> {
    if update.is_empty() {
        return Err("the update is empty: it must have at least one number".to_owned());
    }
    if let Some(i) = update.iter().position(|x| !x.is_finite()) {
        return Err(format!(
            "the update's number at index {i} is not finite: every number must be finite"
        ));
    }
    let norm = l2_norm(update);
    if norm > clip_norm {
        let scale = clip_norm / norm;
        for x in update.iter_mut() {
            *x *= scale;
        }
    }
    Ok(())
}

/// The L2 norm, computed on numbers scaled by the largest magnitude so that squaring
/// numbers near `f64::MAX` does not overflow.
pub fn l2_norm(values: &[f64]) -> f64 {
    let largest = values.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return largest;
    }
    let sum: f64 = values.iter().map(|x| (x / largest) * (x / largest)).sum();
    largest * sum.sqrt()
}

/// Adds `weight × update` into `sum`, which must be as long. `Err` (with `sum` then
/// partly changed: the caller drops it) when a number would stop being finite.
pub fn add_weighted(sum: &mut [f64], update: &[f64], weight: f64) -> Result<(), String> {
    debug_assert_eq!(sum.len(), update.len());
    for (s, x) in sum.iter_mut().zip(update) {
        *s += weight * x;
        if !s.is_finite() {
            return Err(
                "adding the update would make the round's weighted sum overflow: its numbers \
                 times its sample_count are too large for this round's clip_norm"
                    .to_owned(),
            );
        }
    }
    Ok(())
}

/// [`add_weighted`] on a sum kept as a blob of [`to_blob`], in place: the round's sum is
/// read, added to and written back without a vector beside its blob.
pub fn add_weighted_blob(sum: &mut [u8], update: &[f64], weight: f64) -> Result<(), String> {
    debug_assert_eq!(sum.len(), update.len() * 8);
    for (s, x) in sum.chunks_exact_mut(8).zip(update) {
        let mut value = [f64::from_le_bytes(s.try_into().expect("chunks of 8"))];
        add_weighted(&mut value, &[*x], weight)?;
        s.copy_from_slice(&value[0].to_le_bytes());
    }
    Ok(())
}

/// The weighted mean: `sum / total_weight`, element by element.
pub fn mean(sum: &[f64], total_weight: f64) -> Vec<f64> {
    sum.iter().map(|s| s / total_weight).collect()
}

/// A vector as stored: little-endian f64s.
pub fn to_blob(values: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 8);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The vector a blob of [`to_blob`] holds.
pub fn from_blob(blob: &[u8]) -> Vec<f64> {
    blob.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Python's `encrypt_update` sends for `[0.1, -0.2, 3.0]`.
    fn python_envelope(data: &str) -> String {
        let digest = hex(&Sha256::digest(data.as_bytes()));
        format!(
            "{{\"format\": \"plaintext_json\", \"sha256\": \"{digest}\", \"size\": {}, \"data\": {data}}}",
            data.len()
        )
    }

    #[test]
    fn an_envelope_opens_with_the_exact_bytes_of_its_data() {
        let envelope = python_envelope("[0.1, -0.2, 3.0, 1e-05]");
        assert_eq!(
            open_envelope(envelope.as_bytes()).unwrap(),
            [0.1, -0.2, 3.0, 1e-05]
        );
    }

    #[test]
    fn a_wrong_size_digest_or_format_is_refused_by_name() {
        let good = python_envelope("[0.5, 0.25]");
        let altered = good.replace("[0.5, 0.25]", "[0.5, 0.75]");
        assert!(
            open_envelope(altered.as_bytes())
                .unwrap_err()
                .contains("sha256")
        );
        let longer = good.replace("[0.5, 0.25]", "[0.5, 0.255]");
        assert!(
            open_envelope(longer.as_bytes())
                .unwrap_err()
                .contains("size")
        );
        let other = good.replace("plaintext_json", "secure_agg");
        assert!(
            open_envelope(other.as_bytes())
                .unwrap_err()
                .contains("format")
        );
        let cut = &good.as_bytes()[..good.len() - 3];
        assert!(open_envelope(cut).unwrap_err().contains("envelope"));
        let words = python_envelope("[\"a\"]");
        assert!(
            open_envelope(words.as_bytes())
                .unwrap_err()
                .contains("numbers")
        );
    }

    /// A part that counts how many parts are alive, to show how many the reader holds.
    struct Counted(Vec<u8>, Rc<RefCell<(usize, usize)>>);

    impl AsRef<[u8]> for Counted {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.borrow_mut().0 -= 1;
        }
    }

    #[test]
    fn an_envelope_opened_part_by_part_holds_one_part_and_reads_as_the_whole() {
        let numbers: Vec<String> = (0..5000).map(|i| format!("{}.{i}", i % 7)).collect();
        let data = format!("[{}]", numbers.join(", "));
        let envelope = python_envelope(&data);
        let parts: Vec<Vec<u8>> = envelope
            .as_bytes()
            .chunks(997)
            .map(<[u8]>::to_vec)
            .collect();
        let alive = Rc::new(RefCell::new((0, 0)));
        let mut fetched = Vec::new();
        let reader = PartsReader::new(parts.len() as i64, |n| {
            fetched.push(n);
            let mut counts = alive.borrow_mut();
            counts.0 += 1;
            counts.1 = counts.1.max(counts.0);
            Ok(Counted(parts[n as usize].clone(), Rc::clone(&alive)))
        });
        let update = open_envelope_from(reader).unwrap();
        assert_eq!(update, open_envelope(envelope.as_bytes()).unwrap());
        assert_eq!(update.len(), 5000);
        assert_eq!(update[4999], 1.4999);
        assert_eq!(fetched, (0..parts.len() as i64).collect::<Vec<_>>());
        assert_eq!(alive.borrow().1, 1, "at most one part is held at a time");
        assert_eq!(alive.borrow().0, 0, "no part is kept after opening");
    }

    #[test]
    fn the_digest_covers_exactly_the_data_value_wherever_it_is() {
        let data = "[0.5,-1e-05 , 2]";
        let digest = hex(&Sha256::digest(data.as_bytes()));
        let size = data.len();
        for envelope in [
            format!(
                "{{\"data\":{data},\"size\":{size},\"format\":\"plaintext_json\",\"sha256\":\"{digest}\"}}"
            ),
            format!(
                "{{ \"sha256\" : \"{digest}\" ,\"size\": {size}, \"format\": \"plaintext_json\", \"data\" :\n\t {data} \n, \"extra\": [1, {{\"a\": \"]\"}}]}} \n"
            ),
        ] {
            assert_eq!(
                open_envelope(envelope.as_bytes()),
                Ok(vec![0.5, -1e-05, 2.0]),
                "{envelope}"
            );
        }
        let twice = python_envelope("[1]").replace("}", ", \"data\": [1]}");
        assert!(
            open_envelope(twice.as_bytes())
                .unwrap_err()
                .contains("duplicate")
        );
        let trailing = format!("{} x", python_envelope("[1]"));
        assert!(
            open_envelope(trailing.as_bytes())
                .unwrap_err()
                .contains("not an update envelope")
        );
        let failing = PartsReader::new(2, |n| match n {
            0 => Ok(b"{\"format\": ".to_vec()),
            _ => Err(io::Error::other("gone")),
        });
        assert!(
            open_envelope_from(failing)
                .unwrap_err()
                .contains("not an update envelope")
        );
    }

    #[test]
    fn the_weighted_mean_of_blobs_round_trips() {
        let mut sum = vec![0.0; 2];
        add_weighted(&mut sum, &[1.0, 2.0], 1.0).unwrap();
        add_weighted(&mut sum, &[3.0, 4.0], 3.0).unwrap();
        let sum = from_blob(&to_blob(&sum));
        assert_eq!(mean(&sum, 4.0), [2.5, 3.5]);
        let mut blob = to_blob(&[0.0, 0.0]);
        add_weighted_blob(&mut blob, &[1.0, 2.0], 1.0).unwrap();
        add_weighted_blob(&mut blob, &[3.0, 4.0], 3.0).unwrap();
        assert_eq!(from_blob(&blob), sum);
        let mut near_max = to_blob(&[f64::MAX / 2.0]);
        assert!(add_weighted_blob(&mut near_max, &[f64::MAX / 2.0], 4.0).is_err());
    }

    #[test]
    fn huge_updates_are_clipped_to_the_plan_norm_and_the_sum_stays_finite() {
        let mut update = vec![1e308, 1e308];
        check_and_clip(&mut update, 1.0).unwrap();
        let half = std::f64::consts::FRAC_1_SQRT_2;
        assert!((update[0] - half).abs() < 1e-12 && (update[1] - half).abs() < 1e-12);
        let mut sum = vec![0.0; 2];
        add_weighted(&mut sum, &update, 1e12).unwrap();
        assert!(sum.iter().all(|x| x.is_finite()));

        let mut small = vec![0.3, -0.4];
        check_and_clip(&mut small, 1.0).unwrap();
        assert_eq!(
            small,
            [0.3, -0.4],
            "an update within the norm is kept as sent"
        );
        assert!(check_and_clip(&mut [], 1.0).unwrap_err().contains("empty"));
        assert!(
            check_and_clip(&mut [1.0, f64::NAN], 1.0)
                .unwrap_err()
                .contains("index 1")
        );
        let mut near_max = vec![f64::MAX / 2.0];
        assert!(add_weighted(&mut near_max, &[f64::MAX / 2.0], 4.0).is_err());
    }
}
