// Package classify decides whether a downloaded file may stay where the patron
// put it: allow, block (the caller quarantines it), or allow-noexec (keep it,
// but never let it run).
//
// It is the judgement part of the download guard (DESIGN.md, "Download guard"):
// it looks at a file's content (magic bytes, archive contents walked in memory)
// and its name (the real final extension after Unicode normalisation, bidi
// controls, homoglyphs, trailing dots and spaces, alternate data streams,
// double extensions), never at origin metadata alone. It does no I/O beyond
// reading the file it is given, writes nothing, never extracts an archive to
// disk, and never changes the file (its Mark-of-the-Web and xattrs included).
//
// It is not the watcher (agent/downloads finds new files and moves blocked ones
// to quarantine) and not the exec guard (which enforces noexec).
//
// Fail closed: a file that cannot be fully inspected (an encrypted or corrupt
// archive, a bomb, a format whose contents this package cannot read, such as
// RAR, 7z, CAB, ISO, xz) is blocked, with a reason that says so. Only the
// hash lists in Config override a verdict.
//
// Documents are judged from content (2026-12): a saved web page (MHTML/MHT,
// as Chrome and Edge save a "single file" page), an e-mail (EML), HTML, SVG
// and PDF, scripts included, open in the policy-hardened browser and stay;
// every part of a web archive or an e-mail is decoded and judged like a file
// of its own, so one that embeds an HTML application or a program is
// blocked. An Internet shortcut (.url) stays only when it opens a web page
// (http or https) and fetches nothing from a network share. .hta,
// .search-ms, .library-ms and .settingcontent-ms are blocked by name.
//
// A Classifier is immutable after New and safe for concurrent use.
//
// Limitations (2026-11): xz, zstd, 7z, RAR, CAB, ISO/UDF and disk images are
// blocked, never looked inside (no pure-Go xz reader in go.mod yet); Excel 4.0
// (XLM) macros in legacy .xls files and VBA inside legacy .ppt streams are
// not detected (only VBA storages are); RTF embedded objects are allowed;
// remote-template injection in OOXML (an external attachedTemplate relation)
// is not detected; PDF active content (JavaScript, launch actions) is allowed
// (a document for the browser's PDF viewer; the reason says it has
// JavaScript only when that is in its first 64 KiB); uuencoded e-mail parts are
// blocked, not decoded.
package classify
