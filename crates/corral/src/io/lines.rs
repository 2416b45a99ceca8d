//! Splitting a byte stream into lines in linear time: each byte is scanned for a
//! newline once (the scan resumes where it stopped, unlike a peer that rescans its
//! pending buffer on every read), the consumed prefix is dropped once per chunk, and
//! a line longer than the maximum is cut into pieces so memory stays bounded.
//!
//! Written here rather than taken from tokio-util's `LinesCodec`: that codec discards
//! an over-long line instead of delivering it in pieces, splits bytes before decoding
//! (wrong for UTF-16), and errors on invalid UTF-8 instead of replacing it.

use encoding_rs::{CoderResult, Decoder, Encoding};

/// A splitter for one stream. Without an encoding, bytes are split on `\n` and each
/// line is decoded as UTF-8 with invalid sequences replaced (a `\n` byte can never be
/// part of a multi-byte UTF-8 sequence, so this is exact). With an encoding (e.g.
/// UTF-16LE, whose newline is two bytes), the bytes are decoded first, then split.
pub(crate) struct LineSplitter {
    max: usize,
    /// Undelivered bytes (UTF-8 mode) ...
    bytes: Vec<u8>,
    /// ... or undelivered decoded text (encoding mode).
    text: String,
    /// How far `bytes`/`text` has been searched for a newline already.
    scanned: usize,
    decoder: Option<Decoder>,
}

impl LineSplitter {
    pub fn new(max_line_len: usize, encoding: Option<&'static Encoding>) -> Self {
        LineSplitter {
            max: max_line_len.max(4),
            bytes: Vec::new(),
            text: String::new(),
            scanned: 0,
            decoder: encoding.map(|e| e.new_decoder_with_bom_removal()),
        }
    }

    /// Feeds a chunk; calls `emit` for every complete line (without its `\n` or `\r\n`).
    pub fn push(&mut self, chunk: &[u8], emit: &mut dyn FnMut(String)) {
        if self.decoder.is_some() {
            self.decode(chunk, false);
            self.split_text(emit);
        } else {
            self.bytes.extend_from_slice(chunk);
            self.split_bytes(emit);
        }
    }

    /// End of stream: delivers a last line that had no newline.
    pub fn finish(&mut self, emit: &mut dyn FnMut(String)) {
        if self.decoder.is_some() {
            self.decode(&[], true);
            self.split_text(emit);
            if !self.text.is_empty() {
                let rest = std::mem::take(&mut self.text);
                emit(trim_cr(&rest).to_owned());
            }
        } else {
            self.split_bytes(emit);
            if !self.bytes.is_empty() {
                let rest = std::mem::take(&mut self.bytes);
                emit(String::from_utf8_lossy(trim_cr_bytes(&rest)).into_owned());
            }
        }
        self.scanned = 0;
    }

    fn split_bytes(&mut self, emit: &mut dyn FnMut(String)) {
        let mut start = 0;
        loop {
            match memchr::memchr(b'\n', &self.bytes[self.scanned..]) {
                Some(i) => {
                    let end = self.scanned + i;
                    emit_bytes_line(&self.bytes[start..end], self.max, emit);
                    start = end + 1;
                    self.scanned = start;
                }
                None => {
                    // A runaway line: deliver full pieces now, keep the remainder.
                    while self.bytes.len() - start > self.max {
                        let cut = utf8_cut(&self.bytes[start..], self.max);
                        emit(String::from_utf8_lossy(&self.bytes[start..start + cut]).into_owned());
                        start += cut;
                    }
                    self.scanned = self.bytes.len();
                    break;
                }
            }
        }
        self.bytes.drain(..start);
        self.scanned -= start;
    }

    fn split_text(&mut self, emit: &mut dyn FnMut(String)) {
        let mut start = 0;
        loop {
            match memchr::memchr(b'\n', &self.text.as_bytes()[self.scanned..]) {
                Some(i) => {
                    let end = self.scanned + i;
                    let line = trim_cr(&self.text[start..end]);
                    for piece in str_pieces(line, self.max) {
                        emit(piece.to_owned());
                    }
                    start = end + 1;
                    self.scanned = start;
                }
                None => {
                    while self.text.len() - start > self.max {
                        let cut = floor_char_boundary(&self.text[start..], self.max);
                        emit(self.text[start..start + cut].to_owned());
                        start += cut;
                    }
                    self.scanned = self.text.len();
                    break;
                }
            }
        }
        self.text.drain(..start);
        self.scanned -= start;
    }

    fn decode(&mut self, chunk: &[u8], last: bool) {
        let decoder = self.decoder.as_mut().expect("decode is only called with a decoder");
        let mut input = chunk;
        loop {
            let need = decoder.max_utf8_buffer_length(input.len()).unwrap_or(input.len() * 3 + 16);
            self.text.reserve(need);
            let (result, read, _) = decoder.decode_to_string(input, &mut self.text, last);
            input = &input[read..];
            if let CoderResult::InputEmpty = result {
                break;
            }
        }
    }
}

fn emit_bytes_line(line: &[u8], max: usize, emit: &mut dyn FnMut(String)) {
    let mut line = trim_cr_bytes(line);
    while line.len() > max {
        let cut = utf8_cut(line, max);
        emit(String::from_utf8_lossy(&line[..cut]).into_owned());
        line = &line[cut..];
    }
    emit(String::from_utf8_lossy(line).into_owned());
}

fn trim_cr_bytes(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_cr(line: &str) -> &str {
    line.strip_suffix('\r').unwrap_or(line)
}

/// Where to cut `bytes` at most `max` long without splitting a UTF-8 sequence (when
/// the bytes are UTF-8 at all; at worst the cut is at `max`).
fn utf8_cut(bytes: &[u8], max: usize) -> usize {
    let mut cut = max.min(bytes.len());
    for _ in 0..3 {
        if cut == 0 || cut >= bytes.len() || (bytes[cut] & 0b1100_0000) != 0b1000_0000 {
            break;
        }
        cut -= 1;
    }
    if cut == 0 {
        max.min(bytes.len())
    } else {
        cut
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    let mut cut = max.min(s.len());
    while cut > 0 && !s.is_char_boundary(cut) {
        cut -= 1;
    }
    if cut == 0 {
        s.char_indices().nth(1).map_or(s.len(), |(i, _)| i)
    } else {
        cut
    }
}

fn str_pieces(mut s: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    while s.len() > max {
        let cut = floor_char_boundary(s, max);
        out.push(&s[..cut]);
        s = &s[cut..];
    }
    out.push(s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize, enc: Option<&'static Encoding>) -> Vec<String> {
        let mut s = LineSplitter::new(max, enc);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |l| out.push(l));
        }
        s.finish(&mut |l| out.push(l));
        out
    }

    #[test]
    fn lines_across_chunks_crlf_and_a_final_line_without_newline() {
        assert_eq!(split(&[b"a\r\nb", b"c\nd"], 100, None), ["a", "bc", "d"]);
        assert_eq!(split(&[b"one\n"], 100, None), ["one"]);
        assert_eq!(split(&[b"\n\n"], 100, None), ["", ""]);
        assert_eq!(split(&[], 100, None), Vec::<String>::new());
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(split(&[b"ok\xff\xfeok\nnext\n"], 100, None), ["ok\u{fffd}\u{fffd}ok", "next"]);
    }

    #[test]
    fn a_runaway_line_is_cut_at_the_maximum_without_splitting_a_char() {
        assert_eq!(split(&[b"abcdefghij"], 4, None), ["abcd", "efgh", "ij"]);
        assert_eq!(split(&[b"abcdefghij\nk\n"], 4, None), ["abcd", "efgh", "ij", "k"]);
        // "é" is two bytes: the cut moves back rather than split it.
        assert_eq!(split(&["aaaé".as_bytes()], 4, None), ["aaa", "é"]);
    }

    #[test]
    fn utf16le_is_decoded_before_splitting() {
        let bytes: Vec<u8> = "héllo\r\nwörld".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        // Feed one byte at a time: the decoder keeps partial code units.
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(split(&chunks, 100, Some(encoding_rs::UTF_16LE)), ["héllo", "wörld"]);
        assert_eq!(split(&[b"caf\xe9\n"], 100, Some(encoding_rs::WINDOWS_1252)), ["café"]);
    }
}
