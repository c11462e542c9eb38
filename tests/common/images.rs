//! Checks of the plots ddx writes: the size of a PNG or an SVG, and the
//! texts of an SVG.

/// Width and height from a PNG's IHDR chunk, after checking the signature,
/// the chunk layout and the final IEND chunk.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "too short for a PNG");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[8..12], &13u32.to_be_bytes(), "IHDR length");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    // Walk the chunks to the end: each is length, type, data, CRC.
    let mut at = 8;
    let mut last = [0u8; 4];
    let mut idat = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        last.copy_from_slice(&bytes[at + 4..at + 8]);
        if &last == b"IDAT" {
            idat += len;
        }
        at += 12 + len;
    }
    assert_eq!(at, bytes.len(), "chunks do not end at the end of the file");
    assert_eq!(&last, b"IEND", "no IEND chunk");
    assert!(idat > 0, "no image data");
    (w, h)
}

/// The width and height attributes of an SVG's root element.
pub fn svg_size(text: &str) -> (u32, u32) {
    let start = text.find("<svg").expect("no <svg> element");
    let tag = &text[start..start + text[start..].find('>').unwrap()];
    let attr = |name: &str| -> u32 {
        let key = format!(" {name}=\"");
        let i = tag
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {tag}"))
            + key.len();
        tag[i..i + tag[i..].find('"').unwrap()].parse().unwrap()
    };
    assert!(text.trim_end().ends_with("</svg>"), "unterminated SVG");
    (attr("width"), attr("height"))
}

/// The texts of an SVG's `<text>` elements, trimmed.
pub fn svg_texts(text: &str) -> Vec<String> {
    text.split("<text")
        .skip(1)
        .map(|t| {
            let body = &t[t.find('>').expect("a text tag") + 1..];
            body[..body.find("</text>").expect("a closed text")]
                .trim()
                .to_string()
        })
        .collect()
}
