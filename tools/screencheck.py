#!/usr/bin/env python3
"""tools/screencheck.py - checks what the framebuffer console really drew.

  screencheck.py [--uefi] [--timeout S] [--type LINE] [--keep DIR] ISO
      boots ISO (its command line must include shell=1) with
      tools/qemu-run.sh --monitor, waits until the console log ends with the
      shell's prompt, takes a QEMU `screendump` (PPM) through the monitor
      socket and checks it as below; with --type, first types LINE into the
      shell and waits for the next prompt (the output scrolls the screen).
  screencheck.py --verify PPM LOG
      checks a saved screendump against a saved console log.

The check: the console log (the serial output, the same bytes the kernel
sent to the framebuffer console, arch/x86_64/console.c) from the kernel's
banner on is replayed through a model of arch/x86_64/fbcon.c (wrapping at
the last column, \\r \\t \\b, escapes consumed, scrolling, the PANIC:/warning:
line colours), which gives the character and colour each cell of the screen
must show. Every cell of the screendump is then compared pixel by pixel with
that character drawn in the kernel's own font, read from
arch/x86_64/font8x16.c (--font): a foreground pixel where the glyph has a
bit, background (black) where it has none. Any differing cell fails the
check, which names the first ones. Screens of 1601 pixels and wider are drawn
at scale 2, as fbcon_boot_init does.

Timing: nothing assumes a speed. The prompt is polled for in the log (up to
--timeout seconds); the framebuffer is drawn right after the serial bytes
of the same write, so a screendump taken just then can miss the last
bytes: the dump is retried until it matches or --settle seconds pass.
Exit status: 0 the screen matches, 1 it does not, 2 the run itself failed.
Python 3 standard library only.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANNER = "tricolor: "
PROMPT = "tricolor> "
FONT_W, FONT_H, FIRST, GLYPHS = 8, 16, 0x20, 95
SCALE2_MIN_WIDTH = 1601
TAB = 8
PALETTE = [0x000000, 0xaa0000, 0x00aa00, 0xaa5500, 0x0000aa, 0xaa00aa, 0x00aaaa, 0xaaaaaa,
           0x555555, 0xff5555, 0x55ff55, 0xffff55, 0x5555ff, 0xff55ff, 0x55ffff, 0xffffff]
DEFAULT_FG, PANIC_FG, WARNING_FG = PALETTE[7], PALETTE[9], PALETTE[11]
PREFIXES = (("PANIC:", PANIC_FG), ("warning:", WARNING_FG))


class CheckError(Exception):
    """The screen does not show what it must (exit 1)."""


class RunError(Exception):
    """The run could not get as far as a screendump (exit 2)."""


def load_font(path):
    """The glyph rows of font8x16.c: GLYPHS lists of FONT_H bytes."""
    text = open(path, encoding="ascii").read()
    rows = re.findall(r"/\* 0x([0-9a-f]{2}).*?\*/\s*\{([^}]*)\}", text)
    font = {}
    for code, body in rows:
        vals = [int(v, 16) for v in re.findall(r"0x([0-9a-fA-F]{2})", body)]
        if len(vals) != FONT_H:
            raise RunError(f"{path}: glyph 0x{code} has {len(vals)} rows, not {FONT_H}")
        font[int(code, 16)] = vals
    if sorted(font) != list(range(FIRST, FIRST + GLYPHS)):
        raise RunError(f"{path}: {len(font)} glyphs, expected 0x20-0x7e")
    return font


def read_ppm(path):
    """(width, height, bytes of RGB triples) of a binary (P6) PPM."""
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1  # the one whitespace byte before the pixels
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise RunError(f"{path}: not a P6 PPM with maxval 255")
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos:pos + w * h * 3]
    if len(pixels) != w * h * 3:
        raise RunError(f"{path}: {len(pixels)} pixel bytes, expected {w * h * 3}")
    return w, h, pixels


def model_screen(log, cols, rows):
    """The (char, colour) of every cell after the kernel's output in `log`,
    as arch/x86_64/fbcon.c draws it: a list of rows of cells."""
    at = log.find("\n" + BANNER)
    if at < 0:
        raise RunError(f"the console log has no line starting '{BANNER}'")
    out = log[at:]  # the kernel's first byte is the newline before its banner
    blank = lambda: [(" ", DEFAULT_FG)] * cols
    screen = [blank() for _ in range(rows)]
    row = col = 0
    line_fg, prefix = None, ""  # prefix None: not tracked for this line
    esc = 0  # 0 none, 1 after ESC, 2 in CSI

    def newline():
        nonlocal row, col, line_fg, prefix
        col, line_fg, prefix = 0, None, ""
        if row + 1 < rows:
            row += 1
        else:
            screen.pop(0)
            screen.append(blank())

    def put(ch):
        nonlocal col, line_fg, prefix
        if col == cols:
            newline()
            prefix = None
        screen[row][col] = (ch, line_fg or DEFAULT_FG)
        col += 1
        if prefix is None or line_fg is not None:
            return
        prefix += ch
        if col != len(prefix) or len(prefix) > 8:
            prefix = None
            return
        for text, fg in PREFIXES:
            if prefix == text:
                line_fg = fg
                for x in range(len(text)):
                    screen[row][x] = (screen[row][x][0], fg)

    for ch in out:
        b = ord(ch)
        if esc == 1:
            esc = 2 if ch == "[" else 0
            continue
        if esc == 2:
            if 0x40 <= b <= 0x7e or b < 0x20 or b > 0x7e:
                esc = 0
            if ch == "m":
                raise RunError("the log sets colours with escapes: not modelled here")
            continue
        if ch == "\n":
            newline()
        elif ch == "\r":
            col, prefix = 0, None
        elif ch == "\t":
            if col == cols:
                put(" ")
            while True:
                screen[row][col] = (" ", line_fg or DEFAULT_FG)
                col += 1
                if col % TAB == 0 or col >= cols:
                    break
            prefix = None
        elif ch == "\b":
            col = max(col - 1, 0)
            prefix = None
        elif b == 0x1b:
            esc = 1
        elif b < 0x20:
            pass
        else:
            put(ch if b <= 0x7e else "?")
    return screen


def read_screen(w, h, px, scale, font):
    """The text the pixels show, cell by cell (for messages): a glyph whose
    bits are exactly the cell's non-black pixels, '#' when none is."""
    by_bits = {tuple(rows): chr(code) for code, rows in font.items()}
    cw, ch_ = FONT_W * scale, FONT_H * scale
    lines = []
    for r in range(h // ch_):
        line = ""
        for c in range(w // cw):
            bits = []
            for gy in range(0, ch_, scale):
                b, base = 0, ((r * ch_ + gy) * w + c * cw) * 3
                for gx in range(0, cw, scale):
                    p = base + gx * 3
                    if px[p] or px[p + 1] or px[p + 2]:
                        b |= 0x80 >> (gx // scale)
                bits.append(b)
            line += by_bits.get(tuple(bits), "#")
        lines.append(line.rstrip())
    return lines


def verify(ppm, log_text, font):
    """Raises CheckError naming the cells that differ; returns a summary."""
    w, h, px = read_ppm(ppm)
    scale = 2 if w >= SCALE2_MIN_WIDTH else 1
    cw, ch_ = FONT_W * scale, FONT_H * scale
    cols, rows = w // cw, h // ch_
    if cols == 0 or rows == 0:
        raise CheckError(f"a {w}x{h} screen has no character cells")
    screen = model_screen(log_text, cols, rows)
    bad, text_cells = [], 0
    for r in range(rows):
        for c in range(cols):
            want, fg = screen[r][c]
            glyph = font[ord(want)]
            if want != " ":
                text_cells += 1
            why = None
            for gy in range(ch_):
                bits = glyph[gy // scale]
                base = ((r * ch_ + gy) * w + c * cw) * 3
                for gx in range(cw):
                    p = base + gx * 3
                    got = px[p] << 16 | px[p + 1] << 8 | px[p + 2]
                    exp = fg if bits & (0x80 >> (gx // scale)) else 0
                    if got != exp:
                        why = f"pixel ({gx},{gy}) is #{got:06x}, not #{exp:06x}"
                        break
                if why:
                    break
            if why:
                bad.append(f"cell ({c},{r}) should be {want!r}: {why}")
    if bad:
        lines = ["".join(cell[0] for cell in row).rstrip() for row in screen]
        shown = read_screen(w, h, px, scale, font)
        raise CheckError(f"{len(bad)} of {cols * rows} cells differ from the log; first: " +
                         "; ".join(bad[:5]) + "\n  expected screen (last rows):\n" +
                         "\n".join("    |" + l for l in lines[-8:]) +
                         "\n  the screen shows (# = no glyph of the font):\n" +
                         "\n".join("    |" + l for l in shown[-8:]))
    return f"{w}x{h} scale {scale}: all {cols}x{rows} cells match ({text_cells} characters)"


class Monitor:
    """QEMU's human monitor on a unix socket: one command at a time."""

    def __init__(self, path, deadline):
        self.sock = None
        while self.sock is None:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                self.sock = s
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise RunError(f"no QEMU monitor at {path}")
                time.sleep(0.1)
        self.sock.settimeout(max(deadline - time.monotonic(), 5))
        self.read_prompt()

    def read_prompt(self):
        buf = b""
        while not buf.endswith(b"(qemu) "):
            part = self.sock.recv(4096)
            if not part:
                raise RunError("the QEMU monitor closed")
            buf += part
        return buf.decode(errors="replace")

    def command(self, line):
        self.sock.sendall(line.encode() + b"\n")
        return self.read_prompt()


def read_log(path):
    with open(path, "rb") as f:
        return f.read().decode("latin-1")


def boot_and_check(args, font):
    work = args.keep or tempfile.mkdtemp(prefix="screencheck.")
    os.makedirs(work, exist_ok=True)
    log, sock, ppm = (os.path.join(work, n) for n in ("console.log", "monitor.sock", "screen.ppm"))
    for p in (log, sock, ppm):
        if os.path.exists(p):
            os.unlink(p)
    cmd = [os.path.join(ROOT, "tools/qemu-run.sh"), "--monitor", sock, "--log", log,
           "--mem", args.mem, "--timeout", str(int(args.timeout) + 60)]
    if args.uefi:
        cmd.append("--uefi")
    cmd.append(args.iso)
    qemu = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + args.timeout
    mon = None

    def wait_prompt(count):
        while True:
            text = read_log(log) if os.path.exists(log) else ""
            if text.count(PROMPT) >= count and text.endswith(PROMPT):
                return text
            if qemu.poll() is not None:
                raise RunError("QEMU ended before the shell prompt: " +
                               qemu.stderr.read().decode(errors="replace").strip() +
                               "\n" + text[-1500:])
            if time.monotonic() > deadline:
                raise RunError(f"no shell prompt within {args.timeout} s:\n" + text[-1500:])
            time.sleep(0.2)

    try:
        wait_prompt(1)
        if args.type:
            qemu.stdin.write(args.type.encode() + b"\r")
            qemu.stdin.flush()
            wait_prompt(2)
        mon = Monitor(sock, deadline)
        settle = time.monotonic() + args.settle
        while True:
            text = read_log(log)
            mon.command(f"screendump {ppm}")
            if not os.path.exists(ppm):
                raise RunError("screendump wrote no file")
            try:
                return verify(ppm, text, font)
            except CheckError:
                if time.monotonic() > settle or read_log(log) != text:
                    if read_log(log) != text:
                        raise RunError("the console kept printing after the prompt")
                    raise
                time.sleep(0.2)
    finally:
        if mon:
            try:
                mon.sock.sendall(b"quit\n")
            except OSError:
                pass
        try:
            qemu.wait(timeout=30)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="check the framebuffer console's pixels")
    ap.add_argument("iso", nargs="?")
    ap.add_argument("--verify", nargs=2, metavar=("PPM", "LOG"))
    ap.add_argument("--uefi", action="store_true")
    ap.add_argument("--mem", default="128M")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--settle", type=float, default=20)
    ap.add_argument("--type", help="a shell line to type before the screendump")
    ap.add_argument("--keep", help="keep the log and screendump in this directory")
    ap.add_argument("--font", default=os.path.join(ROOT, "arch/x86_64/font8x16.c"))
    args = ap.parse_args()
    if bool(args.verify) == bool(args.iso):
        ap.error("give an ISO or --verify PPM LOG")
    try:
        font = load_font(args.font)
        if args.verify:
            summary = verify(args.verify[0], read_log(args.verify[1]), font)
        else:
            summary = boot_and_check(args, font)
    except CheckError as e:
        print(f"screencheck: FAILED: {e}", file=sys.stderr)
        return 1
    except (RunError, OSError) as e:
        print(f"screencheck: cannot check: {e}", file=sys.stderr)
        return 2
    print(f"screencheck: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
