/**
 * The request target of an L7 request (RFC 9112 section 3.2), as a proxy
 * must treat it:
 *
 * - origin form (`/path?query`) and asterisk form (`*`) are used as sent;
 * - absolute form (`http://a.test:8080/path?query`, RFC 9112 section 3.2.2):
 *   the request is routed by the target's authority, not by `Host`, and is
 *   forwarded in origin form (`/path?query`, `/` when the path is empty)
 *   with `Host` replaced by the authority. Only the `http` and `https`
 *   schemes (any case) are accepted; the scheme changes nothing else (how
 *   lb4 talks to the backend and `X-Forwarded-Proto` follow the client's
 *   connection). Malformed: no `//`, an empty host (RFC 9110 section 4.2.1),
 *   userinfo (`user@`, RFC 9110 section 4.2.4), a bad host or port, a
 *   fragment. The caller answers 400.
 *
 * Authority-form (CONNECT) never gets here: CONNECT is answered 405.
 */

/**
 * One request's target, parsed in place (one instance per session, reused:
 * stable shape, no allocation for origin-form targets).
 */
export class RequestTarget {
  /** The target forwarded to the backend: the URL as sent, or the origin form of an absolute URI. */
  path = '';
  /** The authority of an absolute-form target (`host[:port]`, an empty port dropped), or '' for origin form. */
  authority = '';

  /**
   * Parse `url` (the request target exactly as sent; llhttp has already
   * rejected control characters and spaces). Returns false when it is a
   * malformed or unsupported absolute URI (then `path` is `url` itself, for
   * the log). Allocates only for absolute form.
   */
  parse(url: string): boolean {
    const origin = url.charCodeAt(0) === 0x2f /* / */ || url === '*';
    if (!origin && this.parseAbsolute(url)) return true;
    this.path = url;
    this.authority = '';
    return origin;
  }

  private parseAbsolute(url: string): boolean {
    // scheme "://"
    const colon = url.indexOf(':');
    let schemeOk = false;
    if (colon === 4) schemeOk = equalsLower(url, 0, 'http');
    else if (colon === 5) schemeOk = equalsLower(url, 0, 'https');
    if (!schemeOk || url.charCodeAt(colon + 1) !== 0x2f || url.charCodeAt(colon + 2) !== 0x2f) return false;
    const aStart = colon + 3;
    // authority ends at the path, the query or the end
    let aEnd = aStart;
    for (; aEnd < url.length; aEnd++) {
      const c = url.charCodeAt(aEnd);
      if (c === 0x2f || c === 0x3f) break;
    }
    if (url.indexOf('#', aStart) >= 0) return false; // no fragment in a request target
    // host: an IP literal in brackets, or a reg-name / IPv4 address
    let i = aStart;
    if (url.charCodeAt(i) === 0x5b /* [ */) {
      i++;
      const from = i;
      while (i < aEnd && isIpLiteralChar(url.charCodeAt(i))) i++;
      if (i === from || i >= aEnd || url.charCodeAt(i) !== 0x5d /* ] */) return false;
      i++;
    } else {
      while (i < aEnd && isRegNameChar(url.charCodeAt(i))) i++;
      if (i === aStart) return false; // empty host (or userinfo / junk first)
    }
    let hostEnd = i;
    if (i < aEnd) {
      if (url.charCodeAt(i) !== 0x3a /* : */) return false; // '@' (userinfo) or another stray byte
      i++;
      const from = i;
      let port = 0;
      for (; i < aEnd; i++) {
        const d = url.charCodeAt(i) - 0x30;
        if (d < 0 || d > 9) return false;
        port = port * 10 + d;
        if (port > 65535) return false;
      }
      // "a.test:" is allowed by RFC 3986 (empty port): Host gets "a.test"
      if (i > from) hostEnd = aEnd;
    }
    this.authority = url.slice(aStart, hostEnd);
    if (aEnd === url.length) this.path = '/';
    else if (url.charCodeAt(aEnd) === 0x3f /* ? */) this.path = '/' + url.slice(aEnd);
    else this.path = url.slice(aEnd);
    return true;
  }
}

/** url[at, at + lower.length) equals `lower` ignoring ASCII case (letters only). */
function equalsLower(url: string, at: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) {
    if ((url.charCodeAt(at + k) | 0x20) !== lower.charCodeAt(k)) return false;
  }
  return true;
}

/** RFC 3986 reg-name: unreserved / pct-encoded / sub-delims (IPv4 addresses are reg-names too). */
function isRegNameChar(c: number): boolean {
  if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)) return true;
  switch (c) {
    case 0x2d: // -
    case 0x2e: // .
    case 0x5f: // _
    case 0x7e: // ~
    case 0x25: // % (pct-encoded)
    case 0x21: // !
    case 0x24: // $
    case 0x26: // &
    case 0x27: // '
    case 0x28: // (
    case 0x29: // )
    case 0x2a: // *
    case 0x2b: // +
    case 0x2c: // ,
    case 0x3b: // ;
    case 0x3d: // =
      return true;
    default:
      return false;
  }
}

/** Inside `[...]`: IPv6 addresses (hex digits, ':' and '.' for an embedded IPv4). */
function isIpLiteralChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x3a) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) || c === 0x2e;
}
