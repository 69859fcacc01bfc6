//! Weight updates in the shapes the SDKs' older paths send them, read into the flat vector
//! of numbers FedAvg adds (see `federation`), without HTTP or SQL.
//!
//! `POST /api/v1/training/weights` carries `weights_data`, base64 of what the SDK
//! serialised: the iOS SDK's `WeightExtractor.serializeToPyTorch` (magic `PTTH`, big-endian
//! counts, every parameter's float32 values in name order), the Python SDK's `np.save`
//! of an array (`.npy`, little-endian float32 or float64), or JSON (an array of numbers, or
//! the device agent's `plaintext_json` envelope). The browser's `submitUpdate` sends a
//! JSON map of named arrays (`{"name": {"data": [...], "shape": [...]}}`). Each is read as
//! its parameters' values in name order, so every device's update lines up.

use serde_json::{Map, Value};

/// The base64 alphabet (RFC 4648 §4), with or without padding; whitespace is skipped.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for (i, c) in text.bytes().enumerate() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => {
                return Err(format!(
                    "weights_data must be base64, got the character {:?} at offset {i}",
                    c as char
                ));
            }
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// The update `bytes` (decoded `weights_data`) hold, or a sentence saying what devreg reads.
pub fn read_update(bytes: &[u8]) -> Result<Vec<f64>, String> {
    let values = if bytes.starts_with(b"PTTH") {
        read_ptth(bytes)?
    } else if bytes.starts_with(b"\x93NUMPY") {
        read_npy(bytes)?
    } else if bytes.first().is_some_and(|b| matches!(b, b'[' | b'{')) {
        read_json(bytes)?
    } else {
        return Err(unknown_format());
    };
    if values.is_empty() {
        return Err("weights_data holds no numbers".to_owned());
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err("weights_data holds a number that is not finite".to_owned());
    }
    Ok(values)
}

fn unknown_format() -> String {
    "weights_data must be base64 of an iOS WeightExtractor payload (PTTH), a NumPy .npy \
     array of float32 or float64, a JSON array of numbers or a plaintext_json envelope; \
     torch.save pickles are not read"
        .to_owned()
}

/// A cursor over big-endian counts.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!(
                "weights_data ends at byte {} inside the PTTH payload",
                self.bytes.len()
            )
        })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// iOS `serializeToPyTorch`: `PTTH`, version, parameter count, then per parameter its
/// name, shape, data type and data; the data is always float32 (`serializeMLMultiArray`
/// converts every value), little-endian as Apple's platforms store it.
fn read_ptth(bytes: &[u8]) -> Result<Vec<f64>, String> {
    let mut r = Reader { bytes, at: 4 };
    let version = r.u32()?;
    if version != 1 {
        return Err(format!(
            "weights_data is a PTTH payload of version {version}; devreg reads version 1"
        ));
    }
    let count = r.u32()?;
    let mut params: Vec<(String, Vec<f64>)> = Vec::new();
    for _ in 0..count {
        let name_len = r.u32()? as usize;
        let name = String::from_utf8_lossy(r.take(name_len)?).into_owned();
        let dims = r.u32()? as usize;
        r.take(dims.checked_mul(4).ok_or_else(unknown_format)?)?;
        let _data_type = r.u32()?;
        let len = r.u32()? as usize;
        if !len.is_multiple_of(4) {
            return Err(format!(
                "parameter {name:?} of the PTTH payload has {len} bytes, not float32 values"
            ));
        }
        let data = r.take(len)?;
        let values = data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        params.push((name, values));
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(params.into_iter().flat_map(|(_, v)| v).collect())
}

/// NumPy's `.npy` (format 1.0, 2.0 or 3.0) of a C-ordered float32 or float64 array.
fn read_npy(bytes: &[u8]) -> Result<Vec<f64>, String> {
    let bad = |why: &str| format!("weights_data is a .npy array devreg cannot read: {why}");
    let major = *bytes.get(6).ok_or_else(|| bad("it is cut short"))?;
    let (header_len, start) = match major {
        1 => (
            usize::from(u16::from_le_bytes([
                *bytes.get(8).ok_or_else(|| bad("it is cut short"))?,
                *bytes.get(9).ok_or_else(|| bad("it is cut short"))?,
            ])),
            10,
        ),
        2 | 3 => {
            let b = bytes.get(8..12).ok_or_else(|| bad("it is cut short"))?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        other => return Err(bad(&format!("format version {other}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| bad("its header is cut short"))?;
    let header = String::from_utf8_lossy(header);
    if header.contains("'fortran_order': True") {
        return Err(bad("it is in Fortran order"));
    }
    let width = if header.contains("'descr': '<f4'") {
        4
    } else if header.contains("'descr': '<f8'") {
        8
    } else {
        return Err(bad("its dtype is not little-endian float32 or float64"));
    };
    let data = &bytes[start + header_len..];
    if !data.len().is_multiple_of(width) {
        return Err(bad("its data is not a whole number of values"));
    }
    Ok(data
        .chunks_exact(width)
        .map(|c| match c {
            [a, b, c, d] => f64::from(f32::from_le_bytes([*a, *b, *c, *d])),
            _ => f64::from_le_bytes(c.try_into().expect("8 bytes")),
        })
        .collect())
}

fn read_json(bytes: &[u8]) -> Result<Vec<f64>, String> {
    if bytes.starts_with(b"{") {
        return crate::federation::open_envelope(bytes);
    }
    serde_json::from_slice::<Vec<f64>>(bytes)
        .map_err(|e| format!("weights_data's JSON must be an array of numbers: {e}"))
}

/// The browser's `delta`: named arrays `{"data": [numbers], "shape": [...]}`, read in name
/// order. The error names the parameter.
pub fn read_named_arrays(delta: &Map<String, Value>) -> Result<Vec<f64>, String> {
    let mut names: Vec<&String> = delta.keys().collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let data = delta[name]
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("delta.{name}.data must be an array of numbers"))?;
        for value in data {
            let v = value.as_f64().filter(|v| v.is_finite()).ok_or_else(|| {
                format!("delta.{name}.data must hold finite numbers, got {value}")
            })?;
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err("delta holds no numbers".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert!(decode_base64("aGV*").is_err());
    }

    #[test]
    fn a_ptth_payload_is_read_in_name_order() {
        let mut b = b"PTTH".to_vec();
        b.extend(1u32.to_be_bytes());
        b.extend(2u32.to_be_bytes());
        for (name, values) in [("w2", [3.0f32]), ("w1", [1.5f32])] {
            b.extend((name.len() as u32).to_be_bytes());
            b.extend(name.as_bytes());
            b.extend(1u32.to_be_bytes());
            b.extend(1u32.to_be_bytes());
            b.extend(0u32.to_be_bytes());
            b.extend(4u32.to_be_bytes());
            b.extend(values[0].to_le_bytes());
        }
        assert_eq!(read_update(&b).unwrap(), vec![1.5, 3.0]);
        assert!(read_update(&b[..b.len() - 1]).is_err());
    }

    fn npy(descr: &str, values: &[f32]) -> Vec<u8> {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}");
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((header.len() as u16).to_le_bytes());
        b.extend(header.as_bytes());
        for v in values {
            b.extend(v.to_le_bytes());
        }
        b
    }

    #[test]
    fn an_npy_float32_array_is_read_and_other_dtypes_are_refused() {
        assert_eq!(
            read_update(&npy("<f4", &[0.5, -2.0])).unwrap(),
            vec![0.5, -2.0]
        );
        let refused = read_update(&npy("<i4", &[0.5, -2.0])).unwrap_err();
        assert!(refused.contains("dtype"), "{refused}");
    }

    #[test]
    fn json_arrays_are_read_and_pickles_are_refused() {
        assert_eq!(read_update(b"[1, 2.5]").unwrap(), vec![1.0, 2.5]);
        assert!(
            read_update(b"\x80\x02pickle")
                .unwrap_err()
                .contains("torch.save")
        );
        assert!(read_update(b"[]").is_err());
    }
}
