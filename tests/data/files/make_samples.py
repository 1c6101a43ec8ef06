#!/usr/bin/env python3
"""Makes the sample files of tests/api/test_files.py (committed; rerun to
remake them). Python's standard library, plus ImageMagick's `convert` for
the two images. Each file holds one phrase the test searches for."""
import os
import struct
import subprocess
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def pdf(path, pages):
    """A text PDF with one line of Helvetica per page."""
    objs = []
    kids = []
    n_pages = len(pages)
    # 1 catalog, 2 pages, 3 font, then page/content pairs
    for i, text in enumerate(pages):
        kids.append(4 + 2 * i)
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(("<< /Type /Pages /Kids [%s] /Count %d >>" % (
        " ".join("%d 0 R" % k for k in kids), n_pages)).encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        stream = ("BT /F1 18 Tf 72 720 Td (%s) Tj ET" % text).encode()
        objs.append(("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
                     " /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
                     % (5 + 2 * i)).encode())
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    with open(path, "wb") as f:
        f.write(out)


def scanned_pdf(path, text):
    """A one-page PDF that is only an image of `text` (a scan): no text layer."""
    pgm = path + ".pgm"
    subprocess.check_call(["convert", "-size", "800x200", "xc:white", "-fill", "black",
                           "-font", "DejaVu-Sans", "-pointsize", "44", "-annotate", "+30+110",
                           text, "-colorspace", "gray", "-depth", "8", pgm])
    raw = open(pgm, "rb").read()
    os.remove(pgm)
    # P5 header: magic, width, height, maxval, then the pixels
    parts = raw.split(b"\n", 3)
    w, h = (int(x) for x in parts[1].split())
    pixels = parts[3]
    assert len(pixels) == w * h
    img = zlib.compress(pixels)
    content = b"q 576 0 0 144 18 600 cm /Im1 Do Q"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources"
        b" << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
        b" /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n" % (w, h, len(img))
        + img + b"\nendstream",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    with open(path, "wb") as f:
        f.write(out)


def docx(path, text):
    ct = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
    doc = ('<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
           '<w:p><w:r><w:t>Meeting notes</w:t></w:r></w:p>'
           '<w:p><w:r><w:t>%s</w:t></w:r></w:p></w:body></w:document>' % text)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", ct)
        z.writestr("_rels/.rels", rels)
        z.writestr("word/document.xml", doc)


def zip_bomb_docx(path):
    """A DOCX whose document.xml unpacks to 200 MiB of spaces (~200 KiB packed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        head = '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>'
        with z.open("word/document.xml", "w") as f:
            f.write(head.encode())
            chunk = b" " * (1 << 20)
            for _ in range(200):
                f.write(chunk)
            f.write(b"</w:t></w:r></w:p></w:body></w:document>")


def jpeg_with_exif(src, dst, when):
    """Inserts an APP1 Exif segment with DateTimeOriginal into a JPEG."""
    data = open(src, "rb").read()
    assert data[:2] == b"\xff\xd8"
    dt = when.encode() + b"\x00"  # 20 bytes
    # TIFF little endian: IFD0 with one entry (ExifIFD pointer), then the Exif IFD
    tiff = bytearray(b"II*\x00" + struct.pack("<I", 8))
    ifd0_off = 8
    exif_ifd_off = ifd0_off + 2 + 12 + 4
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, exif_ifd_off) + struct.pack("<I", 0)
    value_off = exif_ifd_off + 2 + 12 + 4
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x9003, 2, len(dt), value_off) + struct.pack("<I", 0)
    tiff += dt
    app1 = b"Exif\x00\x00" + bytes(tiff)
    seg = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    with open(dst, "wb") as f:
        f.write(data[:2] + seg + data[2:])


def main():
    pdf(os.path.join(HERE, "report.pdf"), [
        "Annual report, first page", "Second page of figures", "Third page, still figures",
        "The pelican migration budget is approved"])
    scanned_pdf(os.path.join(HERE, "scanned.pdf"), "Receipt for the walnut bookshelf")
    docx(os.path.join(HERE, "notes.docx"), "Remember the saffron greenhouse inspection")
    zip_bomb_docx(os.path.join(HERE, "bomb.docx"))
    subprocess.check_call(["convert", "-size", "640x100", "xc:white", "-fill", "black",
                           "-font", "DejaVu-Sans", "-pointsize", "40", "-annotate", "+20+65",
                           "Lighthouse keeper schedule", os.path.join(HERE, "screenshot.png")])
    tmp = os.path.join(HERE, "plain.jpg")
    subprocess.check_call(["convert", "-size", "64x48", "gradient:blue-white", tmp])
    jpeg_with_exif(tmp, os.path.join(HERE, "photo.jpg"), "2021:07:14 09:30:00")
    os.remove(tmp)
    with open(os.path.join(HERE, "letter.eml"), "w") as f:
        f.write(
            "From: Ada <ada@example.org>\r\nTo: Bob <bob@example.org>\r\n"
            "Subject: The copper kettle auction\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n"
            "Message-ID: <kettle-1@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
            "--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Bids for the copper kettle auction close on Friday.\r\n"
            "--BB\r\nContent-Type: text/plain; name=\"list.txt\"\r\n"
            "Content-Disposition: attachment; filename=\"list.txt\"\r\n\r\n"
            "lot 7: kettle\r\n--BB--\r\n")
    # a PNG that is also an HTML page (served back, it must not run)
    png = open(os.path.join(HERE, "screenshot.png"), "rb").read()
    with open(os.path.join(HERE, "polyglot.png"), "wb") as f:
        f.write(png + b"<html><script>alert(document.cookie)</script></html>")
    # truncated files
    pdfb = open(os.path.join(HERE, "report.pdf"), "rb").read()
    with open(os.path.join(HERE, "truncated.pdf"), "wb") as f:
        f.write(pdfb[:len(pdfb) // 3])
    with open(os.path.join(HERE, "truncated.png"), "wb") as f:
        f.write(png[:200])


if __name__ == "__main__":
    main()
