#!/usr/bin/env python3
"""Patch mediasoup 3.19.3's worker sources to build against Debian 12 system libraries.

Usage: patch-worker.py <path to the unpacked npm package, i.e. the dir holding worker/>

mediasoup's meson build downloads its subprojects (abseil, libuv, openssl, a libsrtp3 fork,
usrsctp, flatbuffers, catch2, liburing); this machine has no internet except the npm registry
and Debian apt. The six changes below (see /work/shared/TOOLCHAIN.md "WebRTC media") make it
use Debian's packages instead. Every replacement must match exactly once: if mediasoup's
sources move, this script fails loudly instead of producing a half-patched tree.

The build cache key includes this file's hash, so any change here rebuilds the worker.
"""
import pathlib
import re
import sys

MARK = ".switchboard-patched"


def replace_once(text: str, old: str, new: str, where: str) -> str:
    n = text.count(old)
    if n != 1:
        sys.exit(f"patch-worker: expected exactly one match in {where}, found {n}: {old[:80]!r}")
    return text.replace(old, new)


def sub_once(text: str, pattern: str, new: str, where: str, flags: int = re.S) -> str:
    out, n = re.subn(pattern, new, text, count=0, flags=flags)
    if n != 1:
        sys.exit(f"patch-worker: expected exactly one regex match in {where}, found {n}: {pattern[:80]!r}")
    return out


# Debian pkg-config names for what the worker and its bundled libwebrtc include from abseil.
SYSTEM_DEPS = """\
# --- Switchboard patch: Debian 12 system libraries instead of downloaded subprojects. ---
openssl_dep = dependency('openssl', version: '>= 3.0')
libuv_dep = dependency('libuv', version: '>= 1.44')
usrsctp_dep = dependency('usrsctp')
flatbuffers_dep = dependency('flatbuffers', version: '>= 2.0')
_libsrtp2 = dependency('libsrtp2', version: '>= 2.4')
# Debian's libsrtp2.pc omits <includedir>/srtp2 (where srtp.h lives); MS_LIBSRTP2 selects the
# libsrtp2 (in-place, int* length) code path in SrtpSession.cpp/.hpp and DepLibSRTP.cpp.
libsrtp2_dep = declare_dependency(
  dependencies: _libsrtp2,
  compile_args: [
    '-I' + _libsrtp2.get_variable(pkgconfig: 'includedir') / 'srtp2',
    '-DMS_LIBSRTP2',
  ],
)
absl_container_dep = declare_dependency(dependencies: [
  dependency('absl_flat_hash_map'),
  dependency('absl_flat_hash_set'),
  dependency('absl_btree'),
  dependency('absl_inlined_vector'),
  dependency('absl_memory'),
])
absl_strings_dep = dependency('absl_strings')
absl_types_dep = dependency('absl_optional')
# Debian has Catch2 2.x; the worker's own C++ tests need v3 and are skipped without it.
catch2_dep = dependency('catch2-with-main', version: '>= 3.0', required: false)
# --- end Switchboard patch ---

"""


def patch_worker_meson(worker: pathlib.Path) -> None:
    f = worker / "meson.build"
    t = f.read_text()
    w = "worker/meson.build"
    # Debian 12 ships meson 1.0.1; nothing in this file needs 1.1.
    t = replace_once(t, "meson_version: '>= 1.1.0'", "meson_version: '>= 1.0.0'", w)
    # Every subproject() (openssl .. flatbuffers) → dependency().
    t = sub_once(t, r"openssl_proj = subproject\(.*?(?=# flatbuffers schemas subdirectory\.)", SYSTEM_DEPS, w)
    t = replace_once(
        t,
        """dependencies = [
  abseil_cpp_proj.get_variable('absl_container_dep'),
  openssl_proj.get_variable('openssl_dep'),
  libuv_proj.get_variable('libuv_dep'),
  libsrtp3_proj.get_variable('libsrtp3_dep'),
  usrsctp_proj.get_variable('usrsctp_dep'),
  flatbuffers_proj.get_variable('flatbuffers_dep'),
""",
        """dependencies = [
  absl_container_dep,
  openssl_dep,
  libuv_dep,
  libsrtp2_dep,
  usrsctp_dep,
  flatbuffers_dep,
""",
        w,
    )
    # Only the bundled libwebrtc stays statically bundled; the rest link dynamically.
    t = sub_once(t, r"link_whole = \[\n.*?\n\]", "link_whole = [\n  libwebrtc,\n]", w)
    # liburing only if >= 2.5 (Debian has 2.3; it is an optimisation, not a requirement).
    t = sub_once(
        t,
        r"  if kernel_version\[0\]\.to_int\(\) >= 6\n    liburing_proj = subproject\([^\n]*\n\n    dependencies \+= \[\n      liburing_proj\.get_variable\('uring'\),\n    \]\n    link_whole \+= \[\n      liburing_proj\.get_variable\('liburing'\)\n    \]\n",
        "  liburing_dep = dependency('liburing', version: '>= 2.5', required: false)\n"
        "  if kernel_version[0].to_int() >= 6 and liburing_dep.found()\n"
        "    dependencies += [\n      liburing_dep,\n    ]\n",
        w,
    )
    # Catch2 v3 optional: the test executables are defined only when it is found.
    t = t.replace("catch2_proj.get_variable('catch2_dep')", "catch2_dep")
    t = sub_once(
        t,
        r"(test_sources = \[.*?)(?=fuzzer_sources = )",
        lambda m: "if catch2_dep.found()\n" + m.group(1) + "endif\n\n",  # type: ignore[arg-type]
        w,
    )
    if "subproject(" in t.replace("wingetopt_proj = subproject(", ""):
        sys.exit("patch-worker: a subproject() is left in worker/meson.build")
    f.write_text(t)


def patch_libwebrtc_meson(worker: pathlib.Path) -> None:
    f = worker / "deps/libwebrtc/meson.build"
    t = f.read_text()
    w = "worker/deps/libwebrtc/meson.build"
    t = sub_once(t, r"abseil_cpp_proj = subproject\(.*?\n\)\n", "", w)
    # X_proj.get_variable('Y_dep') → the Y_dep defined in worker/meson.build.
    t, n = re.subn(r"\w+_proj\.get_variable\('(\w+)'\)", r"\1", t)
    if n == 0 or "subproject(" in t:
        sys.exit(f"patch-worker: unexpected {w} ({n} get_variable replaced)")
    f.write_text(t)


def patch_srtp_session(worker: pathlib.Path) -> None:
    f = worker / "src/RTC/SrtpSession.cpp"
    t = f.read_text()
    w = "worker/src/RTC/SrtpSession.cpp"
    # libsrtp2 protects in place with int* lengths; the fork has separate in/out buffers and
    # size_t. Copy into the encrypt buffer (size already checked above) and protect there.
    t = replace_once(
        t,
        """		const srtp_err_status_t err = srtp_protect(
		  /*srtp_t ctx*/ this->session,
		  /*const uint8_t* rtp*/ *data,
		  /*size_t rtp_len*/ *len,
		  /*uint8_t* srtp*/ encryptBuffer,
		  /*size_t* srtp_len*/ std::addressof(encryptLen),
		  /*size_t mki_index*/ 0);
""",
        """#ifdef MS_LIBSRTP2
		if (*len + SRTP_MAX_TRAILER_LEN > encryptLen)
		{
			MS_WARN_TAG(srtp, "cannot encrypt RTP packet, size too big (%zu bytes)", *len);

			return false;
		}

		std::memcpy(encryptBuffer, *data, *len);

		int srtpLen = static_cast<int>(*len);

		const srtp_err_status_t err = srtp_protect(this->session, encryptBuffer, std::addressof(srtpLen));

		encryptLen = static_cast<size_t>(srtpLen);
#else
		const srtp_err_status_t err = srtp_protect(
		  /*srtp_t ctx*/ this->session,
		  /*const uint8_t* rtp*/ *data,
		  /*size_t rtp_len*/ *len,
		  /*uint8_t* srtp*/ encryptBuffer,
		  /*size_t* srtp_len*/ std::addressof(encryptLen),
		  /*size_t mki_index*/ 0);
#endif
""",
        w,
    )
    t = replace_once(
        t,
        """		const srtp_err_status_t err = srtp_unprotect(
		  /*srtp_t ctx*/ this->session,
		  /*const uint8_t* srtp*/ data,
		  /*size_t srtp_len*/ *len,
		  /*uint8_t* rtp*/ data,
		  /*size_t* rtp_len*/ std::addressof(decryptLen));
""",
        """#ifdef MS_LIBSRTP2
		int rtpLen = static_cast<int>(decryptLen);

		const srtp_err_status_t err = srtp_unprotect(this->session, data, std::addressof(rtpLen));

		decryptLen = static_cast<size_t>(rtpLen);
#else
		const srtp_err_status_t err = srtp_unprotect(
		  /*srtp_t ctx*/ this->session,
		  /*const uint8_t* srtp*/ data,
		  /*size_t srtp_len*/ *len,
		  /*uint8_t* rtp*/ data,
		  /*size_t* rtp_len*/ std::addressof(decryptLen));
#endif
""",
        w,
    )
    t = replace_once(
        t,
        """		const srtp_err_status_t err = srtp_protect_rtcp(
		  /*srtp_t ctx*/ this->session,
		  /*const uint8_t* rtcp*/ *data,
		  /*size_t rtcp_len*/ *len,
		  /*uint8_t* srtcp*/ encryptBuffer,
		  /*size_t* srtcp_len*/ std::addressof(encryptLen),
		  /*size_t mki_index*/ 0);
""",
        """#ifdef MS_LIBSRTP2
		std::memcpy(encryptBuffer, *data, *len);

		int srtcpLen = static_cast<int>(*len);

		const srtp_err_status_t err =
		  srtp_protect_rtcp(this->session, encryptBuffer, std::addressof(srtcpLen));

		encryptLen = static_cast<size_t>(srtcpLen);
#else
		const srtp_err_status_t err = srtp_protect_rtcp(
		  /*srtp_t ctx*/ this->session,
		  /*const uint8_t* rtcp*/ *data,
		  /*size_t rtcp_len*/ *len,
		  /*uint8_t* srtcp*/ encryptBuffer,
		  /*size_t* srtcp_len*/ std::addressof(encryptLen),
		  /*size_t mki_index*/ 0);
#endif
""",
        w,
    )
    t = replace_once(
        t,
        """		const srtp_err_status_t err = srtp_unprotect_rtcp(
		  /*srtp_t ctx*/ this->session,
		  /*const uint8_t* srtcp*/ data,
		  /*size_t srtcp_len*/ *len,
		  /*uint8_t* rtcp*/ data,
		  /*size_t* rtcp_len*/ std::addressof(decryptLen));
""",
        """#ifdef MS_LIBSRTP2
		int rtcpLen = static_cast<int>(decryptLen);

		const srtp_err_status_t err = srtp_unprotect_rtcp(this->session, data, std::addressof(rtcpLen));

		decryptLen = static_cast<size_t>(rtcpLen);
#else
		const srtp_err_status_t err = srtp_unprotect_rtcp(
		  /*srtp_t ctx*/ this->session,
		  /*const uint8_t* srtcp*/ data,
		  /*size_t srtcp_len*/ *len,
		  /*uint8_t* rtcp*/ data,
		  /*size_t* rtcp_len*/ std::addressof(decryptLen));
#endif
""",
        w,
    )
    f.write_text(t)


def patch_srtp_session_hpp(worker: pathlib.Path) -> None:
    f = worker / "include/RTC/SrtpSession.hpp"
    t = f.read_text()
    t = replace_once(
        t,
        "			srtp_stream_remove(this->session, uint32_t{ htonl(ssrc) });\n",
        "#ifdef MS_LIBSRTP2\n"
        "			srtp_remove_stream(this->session, uint32_t{ htonl(ssrc) });\n"
        "#else\n"
        "			srtp_stream_remove(this->session, uint32_t{ htonl(ssrc) });\n"
        "#endif\n",
        "worker/include/RTC/SrtpSession.hpp",
    )
    f.write_text(t)


def patch_dep_libsrtp(worker: pathlib.Path) -> None:
    f = worker / "src/DepLibSRTP.cpp"
    t = f.read_text()
    w = "worker/src/DepLibSRTP.cpp"
    # Only the fork has these two error codes.
    t = replace_once(
        t,
        """	{ srtp_err_status_pkt_idx_adv,   "packet index advanced, reset needed" },
	{ srtp_err_status_buffer_small,  "out buffer is too small" },
	{ srtp_err_status_cryptex_err,   "unsupported cryptex operation" }
""",
        """	{ srtp_err_status_pkt_idx_adv,   "packet index advanced, reset needed" }
#ifndef MS_LIBSRTP2
	,
	{ srtp_err_status_buffer_small,  "out buffer is too small" },
	{ srtp_err_status_cryptex_err,   "unsupported cryptex operation" }
#endif
""",
        w,
    )
    f.write_text(t)


def patch_dtls_bio_callback(worker: pathlib.Path) -> None:
    f = worker / "src/RTC/DtlsTransport.cpp"
    t = f.read_text()
    # Upstream bug: every post-operation call (BIO_CB_RETURN | op) except exactly BIO_CB_RETURN
    # got 1. Debian's OpenSSL has kTLS; its BIO_ctrl(kTLS) then "succeeds", OpenSSL skips
    # allocating the DTLS write buffer and crashes in SSL_read on Chrome's ClientHello.
    t = replace_once(
        t,
        "	long resultOfcallback = (operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1;\n",
        "	long resultOfcallback = (operationType & BIO_CB_RETURN) ? static_cast<long>(ret) : 1;\n",
        "worker/src/RTC/DtlsTransport.cpp",
    )
    f.write_text(t)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = pathlib.Path(sys.argv[1])
    worker = root / "worker"
    if (worker / MARK).exists():
        print("[patch-worker] already patched")
        return
    patch_worker_meson(worker)
    patch_libwebrtc_meson(worker)
    patch_srtp_session(worker)
    patch_srtp_session_hpp(worker)
    patch_dep_libsrtp(worker)
    patch_dtls_bio_callback(worker)
    (worker / MARK).write_text("patched by scripts/mediasoup/patch-worker.py\n")
    print("[patch-worker] 6 changes applied (meson x2, SrtpSession.cpp/.hpp, DepLibSRTP.cpp, DtlsTransport.cpp)")


if __name__ == "__main__":
    main()
