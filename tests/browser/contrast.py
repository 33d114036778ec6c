"""The contrast of a mail's text as its reader sees it, computed in Chromium: shared by the
design tests of the digest and of the transactional mails."""

from __future__ import annotations

# Every element with text of its own, visible, with its colour and the first opaque background
# behind it; the WCAG 2 contrast of the two. Returns the ones under 4.5:1.
LOW_CONTRAST_JS = """
() => {
  const rgb = (value) => (value.match(/[\\d.]+/g) || []).map(Number);
  const channel = (c) => {
    c /= 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ([r, g, b]) =>
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const ratio = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const behind = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const colour = rgb(getComputedStyle(node).backgroundColor);
      if (colour.length === 3 || (colour.length === 4 && colour[3] > 0)) return colour.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  let checked = 0;
  for (const element of document.body.querySelectorAll("*")) {
    const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(element);
    if (!own || style.display === "none" || style.visibility === "hidden") continue;
    if (!element.getClientRects().length || element.closest(".preheader")) continue;
    checked += 1;
    const value = ratio(rgb(style.color).slice(0, 3), behind(element));
    if (value < 4.5) {
      const text = element.textContent.trim().slice(0, 40);
      low.push(`${element.tagName}.${element.className}: ${value.toFixed(2)} "${text}"`);
    }
  }
  return { checked, low };
}
"""
