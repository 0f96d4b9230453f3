"""Numba pass over STDF V4 bytes: one call parses the complete records of a buffer.

The caller (:mod:`fabnb.io.stdf`) streams a file through a fixed-size buffer and calls
:func:`parse_records` on it; the kernel walks record by record and

- opens a part at PIR and closes it at PRR (bins, X/Y, part id), per (head, site) slot,
  so interleaved sites of multi-site testing keep their own results;
- appends one result row (part, test, raw float32 value, TEST_FLG) per PTR, one per
  element of an MPR and one (value NaN: a functional test has pass/fail only) per FTR,
  looking the test up in an open-addressing hash table keyed by ``(TEST_NUM, element)``
  (element -1 for a PTR, -2 for an FTR);
- takes the test's defaults (TEST_TXT, UNITS, OPT_FLAG, scales, limits) from the first
  record of that test that carries them, as STDF V4 prescribes;
- walks every field of PIR/PRR/PTR/MPR and flags a record whose fields overrun its
  length or leave trailing bytes (this is what catches most corrupted lengths);
- lists the rare records (MIR, WIR, WRR, WCR, HBR, SBR, PCR, TSR, MRR) for Python to decode
  and counts every other record type, separately for those inside a part (between a
  PIR and its PRR): a PTR whose type bytes were corrupted into a skipped type lands
  there, so the caller can say how many results it may have lost.

It stops, returning a status, when an output array is full (the caller grows it and
calls again from the returned position) or when the next record is not complete in
the buffer (the caller reads more).  Nothing is ever read past ``n``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# status codes returned with the resume position
NEED_BYTES, NEED_PARTS, NEED_RESULTS, NEED_TESTS, NEED_TEXT, NEED_RARE = 0, 1, 2, 3, 4, 5

# counters (cnt) slots; N_OPEN (parts open in this file) and N_FILE (index of the file
# being read) are per file, set by the caller
N_PARTS, N_RESULTS, N_TESTS, N_TEXT, N_RARE, N_WAFERS, N_OPEN, N_FILE = 0, 1, 2, 3, 4, 5, 6, 7
# issue slots (issue_cnt / issue_off / issue_rec)
ISSUE_MALFORMED, ISSUE_NO_PART, ISSUE_NO_PIR, ISSUE_SKIPPED_IN_PART = 0, 1, 2, 3
N_ISSUES = 4

# record codes: REC_TYP * 256 + REC_SUB
PIR, PRR, PTR, MPR, FTR = 5 * 256 + 10, 5 * 256 + 20, 15 * 256 + 10, 15 * 256 + 15, 15 * 256 + 20
#: element of an FTR's test key (a functional test shares TEST_NUM space with PTRs)
FTR_SUB = -2
WIR, WRR = 2 * 256 + 10, 2 * 256 + 20
RARE = np.array(
    [1 * 256 + 10, 1 * 256 + 20, 1 * 256 + 30, 1 * 256 + 40, 1 * 256 + 50, 2 * 256 + 30,
     10 * 256 + 30],
    dtype=np.int64,
)  # MIR MRR PCR HBR SBR WCR TSR (WIR/WRR are rare too, handled with the wafer counter)

# field layouts after the 12 fixed leading bytes; >0 fixed size, 0 Cn/Bn,
# -2 N1 x j (nibbles), -3 R4 x k, -4 U2 x j, -5 U2 x k, -6 N1 x k, -7 Dn (U2 bit count)
PTR_TAIL = np.array([0, 0, 1, 1, 1, 1, 4, 4, 0, 0, 0, 0, 4, 4], dtype=np.int64)
MPR_TAIL = np.array([-2, -3, 0, 0, 1, 1, 1, 1, 4, 4, 4, 4, -4, 0, 0, 0, 0, 0, 4, 4], dtype=np.int64)
# FTR after TEST_NUM, HEAD, SITE, TEST_FLG (7 bytes): OPT_FLAG .. VECT_OFF, RTN_ICNT (j),
# PGM_ICNT (k), RTN_INDX, RTN_STAT, PGM_INDX, PGM_STAT, FAIL_PIN, VECT_NAM, TIME_SET,
# OP_CODE, TEST_TXT, ALARM_ID, PROG_TXT, RSLT_TXT, PATG_NUM, SPIN_MAP
FTR_TAIL = np.array([1, 4, 4, 4, 4, 4, 4, 2, 2, 2, -4, -2, -5, -6, -7, 0, 0, 0, 0, 0, 0, 0, 1, -7],
                    dtype=np.int64)
FTR_TXT, FTR_COUNTS = 18, 34  # TEST_TXT field; byte offset of RTN_ICNT, PGM_ICNT in the body
PRR_TAIL = np.array([1, 1, 1, 2, 2, 2, 2, 2, 4, 0, 0, 0], dtype=np.int64)  # from HEAD_NUM
# indices of fields inside the tails
PTR_TXT, PTR_OPT, PTR_RES, PTR_LO, PTR_HI, PTR_UNITS = 0, 2, 3, 6, 7, 8
MPR_RSLT, MPR_TXT, MPR_OPT, MPR_RES, MPR_LO, MPR_HI, MPR_UNITS = 1, 2, 4, 5, 8, 9, 13
PRR_SBIN, PRR_X, PRR_Y, PRR_ID = 5, 6, 7, 9


@njit(cache=True)
def _u2(b, i, big):
    if big:
        return (np.int64(b[i]) << 8) | np.int64(b[i + 1])
    return np.int64(b[i]) | (np.int64(b[i + 1]) << 8)


@njit(cache=True)
def _u4(b, i, big):
    if big:
        return (np.int64(b[i]) << 24) | (np.int64(b[i + 1]) << 16) | (np.int64(b[i + 2]) << 8) | np.int64(b[i + 3])
    return np.int64(b[i]) | (np.int64(b[i + 1]) << 8) | (np.int64(b[i + 2]) << 16) | (np.int64(b[i + 3]) << 24)


@njit(cache=True)
def _i2(b, i, big):
    v = _u2(b, i, big)
    return v - 65536 if v >= 32768 else v


@njit(cache=True)
def _i1(b, i):
    v = np.int64(b[i])
    return v - 256 if v >= 128 else v


@njit(cache=True)
def _f4(b, i, big, u32, f32):
    u32[0] = np.uint32(_u4(b, i, big))
    return f32[0]


@njit(cache=True)
def _walk(b, i, end, tail, j, k, big, at):
    """Positions of the tail fields in ``at`` (-1 when absent); False when malformed.

    Trailing fields may be omitted as a whole (STDF allows a record to stop early), but
    a field cut in the middle, or bytes left after the last field, make the record
    malformed.
    """
    for f in range(tail.size):
        at[f] = -1
    for f in range(tail.size):
        if i == end:
            return True
        size = tail[f]
        if size == 0:
            size = 1 + np.int64(b[i])
        elif size == -2:
            size = (j + 1) // 2
        elif size == -3:
            size = 4 * k
        elif size == -4:
            size = 2 * j
        elif size == -5:
            size = 2 * k
        elif size == -6:
            size = (k + 1) // 2
        elif size == -7:
            if i + 2 > end:
                return False
            size = 2 + (_u2(b, i, big) + 7) // 8
        if i + size > end:
            return False
        at[f] = i
        i += size
    return i == end


@njit(cache=True)
def _issue(kind, offset, code, issue_cnt, issue_off, issue_rec):
    issue_cnt[kind] += 1
    if issue_off[kind] < 0:
        issue_off[kind] = offset
        issue_rec[kind] = code


@njit(cache=True)
def _hash(num, sub, mask):
    h = ((num ^ (num >> 16)) * 0x45D9F3B) & 0xFFFFFFFF
    h ^= (sub + 1) * 0x9E37
    return h & mask


@njit(cache=True)
def _find_test(num, sub, t_hash, t_num, t_sub):
    """Index of test (num, sub), or ``-1 - slot`` of the empty hash slot to insert at."""
    mask = t_hash.size - 1
    h = _hash(num, sub, mask)
    while True:
        t = t_hash[h]
        if t < 0:
            return -1 - h
        if t_num[t] == num and t_sub[t] == sub:
            return t
        h = (h + 1) & mask


@njit(cache=True)
def rehash(t_hash, t_num, t_sub, n_tests):
    """Fill a fresh (all -1) hash table with the first ``n_tests`` tests."""
    for t in range(n_tests):
        slot = _find_test(t_num[t], t_sub[t], t_hash, t_num, t_sub)
        t_hash[-1 - slot] = t


@njit(cache=True)
def _copy_text(b, i, text, cnt):
    """Copy the Cn string at ``i`` into ``text``; return (offset, length)."""
    n = np.int64(b[i])
    start = cnt[N_TEXT]
    for q in range(n):
        text[start + q] = b[i + 1 + q]
    cnt[N_TEXT] = start + n
    return start, n


@njit(cache=True)
def _defaults(b, big, t, at_txt, at_opt, at_res, at_lo, at_hi, at_units,
              t_txt, t_unit, t_meta, t_lim, text, cnt, u32, f32, offset):
    """Take test ``t``'s name, unit, scale and limits from this record if it has them.

    ``t_meta`` columns: 0 has name, 1 has defaults, 2 OPT_FLAG, 3 RES_SCAL, 4 byte
    offset and 5 file index of the record the defaults came from.
    OPT_FLAG bits (STDF V4): 0 RES_SCAL invalid, 4/5 LO/HI_LIMIT invalid,
    6/7 no low/high limit.
    """
    if t_meta[t, 0] == 0 and at_txt >= 0 and b[at_txt] > 0:
        t_txt[t, 0], t_txt[t, 1] = _copy_text(b, at_txt, text, cnt)
        t_meta[t, 0] = 1
    if t_meta[t, 1] == 1 or at_opt < 0:
        return
    opt = np.int64(b[at_opt])
    t_meta[t, 1] = 1
    t_meta[t, 2] = opt
    t_meta[t, 4] = offset
    t_meta[t, 5] = cnt[N_FILE]
    if at_res >= 0 and (opt & 1) == 0:
        t_meta[t, 3] = _i1(b, at_res)
    if at_lo >= 0 and (opt & 0x50) == 0:
        t_lim[t, 0] = _f4(b, at_lo, big, u32, f32)
    if at_hi >= 0 and (opt & 0xA0) == 0:
        t_lim[t, 1] = _f4(b, at_hi, big, u32, f32)
    if at_units >= 0:
        t_unit[t, 0], t_unit[t, 1] = _copy_text(b, at_units, text, cnt)


@njit(cache=True)
def parse_records(b, n, pos, base, big, cnt, issue_cnt, issue_off, issue_rec, open_part,
                  wafer_of_head, skipped, parts, part_id, r_part, r_test, r_flag, r_value,
                  t_hash, t_num, t_sub, t_txt, t_unit, t_meta, t_lim, text, rare):
    """Parse the complete records in ``b[pos:n]``; return ``(status, pos)``.

    ``base`` is the file offset of ``b[0]``.  ``skipped[0, code]`` counts the records
    of each other type, ``skipped[1, code]`` those of them inside an open part.
    ``parts`` columns: 0 wafer, 1 head, 2 site, 3 PART_FLG, 4 HARD_BIN, 5 SOFT_BIN, 6 X,
    7 Y, 8 PIR offset, 9 state (0 open, 1 closed by PRR), 10 PRR offset.  One result per row of ``r_part`` (int32),
    ``r_test`` (int32), ``r_flag`` (TEST_FLG, uint8) and ``r_value`` (the raw float32).  ``rare`` rows: record code,
    position in ``b``, length, wafer index, file offset.
    """
    u32 = np.zeros(1, dtype=np.uint32)
    f32 = u32.view(np.float32)
    at = np.empty(32, dtype=np.int64)
    text_cap = text.size
    while True:
        if pos + 4 > n:
            return NEED_BYTES, pos
        length = _u2(b, pos, big)
        body = pos + 4
        end = body + length
        if end > n:
            return NEED_BYTES, pos
        code = np.int64(b[pos + 2]) * 256 + np.int64(b[pos + 3])
        offset = base + pos
        if code == PTR or code == MPR or code == FTR:
            if length < (7 if code == FTR else 12):
                _issue(ISSUE_MALFORMED, offset, code, issue_cnt, issue_off, issue_rec)
                pos = end
                continue
            j = 0
            k = 1
            if code == MPR:
                j = _u2(b, body + 8, big)
                k = _u2(b, body + 10, big)
                ok = _walk(b, body + 12, end, MPR_TAIL, j, k, big, at)
                ok = ok and (k == 0 or at[MPR_RSLT] >= 0)
            elif code == FTR:
                if length >= FTR_COUNTS + 4:
                    j = _u2(b, body + FTR_COUNTS, big)
                    k = _u2(b, body + FTR_COUNTS + 2, big)
                else:
                    k = 0
                ok = _walk(b, body + 7, end, FTR_TAIL, j, k, big, at)
                k = 1  # one result row
            else:
                ok = _walk(b, body + 12, end, PTR_TAIL, 0, 0, big, at)
            if not ok:
                _issue(ISSUE_MALFORMED, offset, code, issue_cnt, issue_off, issue_rec)
                pos = end
                continue
            part = open_part[np.int64(b[body + 4]) * 256 + np.int64(b[body + 5])]
            if part < 0:
                _issue(ISSUE_NO_PART, offset, code, issue_cnt, issue_off, issue_rec)
                pos = end
                continue
            if cnt[N_RESULTS] + k > r_value.size:
                return NEED_RESULTS, pos
            if 2 * (cnt[N_TESTS] + k) > t_hash.size or cnt[N_TESTS] + k > t_num.size:
                return NEED_TESTS, pos
            if cnt[N_TEXT] + 2 * 256 * k > text_cap:
                return NEED_TEXT, pos
            num = _u4(b, body, big)
            flg = np.int64(b[body + 6])
            for e in range(k):
                sub = -1 if code == PTR else (FTR_SUB if code == FTR else e)
                t = _find_test(num, sub, t_hash, t_num, t_sub)
                if t < 0:
                    t_hash[-1 - t] = cnt[N_TESTS]
                    t = cnt[N_TESTS]
                    cnt[N_TESTS] += 1
                    t_num[t] = num
                    t_sub[t] = sub
                if code == PTR:
                    _defaults(b, big, t, at[PTR_TXT], at[PTR_OPT], at[PTR_RES], at[PTR_LO],
                              at[PTR_HI], at[PTR_UNITS], t_txt, t_unit, t_meta, t_lim, text,
                              cnt, u32, f32, offset)
                    value = _f4(b, body + 8, big, u32, f32)
                elif code == FTR:  # name only: no unit, scale or limits
                    _defaults(b, big, t, at[FTR_TXT], -1, -1, -1, -1, -1, t_txt, t_unit, t_meta,
                              t_lim, text, cnt, u32, f32, offset)
                    value = np.nan
                else:
                    _defaults(b, big, t, at[MPR_TXT], at[MPR_OPT], at[MPR_RES], at[MPR_LO],
                              at[MPR_HI], at[MPR_UNITS], t_txt, t_unit, t_meta, t_lim, text,
                              cnt, u32, f32, offset)
                    value = _f4(b, at[MPR_RSLT] + 4 * e, big, u32, f32)
                r = cnt[N_RESULTS]
                r_part[r] = part
                r_test[r] = t
                r_flag[r] = flg
                r_value[r] = value
                cnt[N_RESULTS] = r + 1
        elif code == PIR:
            if length != 2:
                _issue(ISSUE_MALFORMED, offset, code, issue_cnt, issue_off, issue_rec)
                pos = end
                continue
            if cnt[N_PARTS] >= parts.shape[0]:
                return NEED_PARTS, pos
            head = np.int64(b[body])
            p = cnt[N_PARTS]
            cnt[N_PARTS] = p + 1
            parts[p, 0] = wafer_of_head[head]
            parts[p, 1] = head
            parts[p, 2] = np.int64(b[body + 1])
            parts[p, 3:8] = -1
            parts[p, 8] = offset
            parts[p, 9] = 0
            parts[p, 10] = -1
            part_id[p, 1] = 0
            slot = head * 256 + np.int64(b[body + 1])
            if open_part[slot] < 0:
                cnt[N_OPEN] += 1
            open_part[slot] = p
        elif code == PRR:
            if length < 7 or not _walk(b, body, end, PRR_TAIL, 0, 0, big, at):
                _issue(ISSUE_MALFORMED, offset, code, issue_cnt, issue_off, issue_rec)
                pos = end
                continue
            if cnt[N_PARTS] >= parts.shape[0]:
                return NEED_PARTS, pos
            if cnt[N_TEXT] + 256 > text_cap:
                return NEED_TEXT, pos
            head = np.int64(b[body])
            slot = head * 256 + np.int64(b[body + 1])
            p = open_part[slot]
            if p < 0:
                _issue(ISSUE_NO_PIR, offset, code, issue_cnt, issue_off, issue_rec)
                p = cnt[N_PARTS]  # keep the part: its bins and coordinates are readable
                cnt[N_PARTS] = p + 1
                parts[p, 0] = wafer_of_head[head]
                parts[p, 1] = head
                parts[p, 2] = np.int64(b[body + 1])
                parts[p, 8] = offset
            else:
                cnt[N_OPEN] -= 1
            open_part[slot] = -1
            parts[p, 3] = np.int64(b[body + 2])
            parts[p, 4] = _u2(b, body + 5, big)
            parts[p, 5] = _u2(b, at[PRR_SBIN], big) if at[PRR_SBIN] >= 0 else 65535
            parts[p, 6] = _i2(b, at[PRR_X], big) if at[PRR_X] >= 0 else -32768
            parts[p, 7] = _i2(b, at[PRR_Y], big) if at[PRR_Y] >= 0 else -32768
            parts[p, 9] = 1
            parts[p, 10] = offset
            if at[PRR_ID] >= 0:
                part_id[p, 0], part_id[p, 1] = _copy_text(b, at[PRR_ID], text, cnt)
            else:
                part_id[p, 1] = 0
        elif code == WIR or code == WRR or code == RARE[0] or code == RARE[1] or code == RARE[2] \
                or code == RARE[3] or code == RARE[4] or code == RARE[5] or code == RARE[6]:
            if cnt[N_RARE] >= rare.shape[0]:
                return NEED_RARE, pos
            wafer = -1
            if (code == WIR or code == WRR) and length >= 1:
                head = np.int64(b[body])
                if code == WIR:
                    wafer = cnt[N_WAFERS]
                    cnt[N_WAFERS] += 1
                    wafer_of_head[head] = wafer
                else:
                    wafer = wafer_of_head[head]
                    wafer_of_head[head] = -1
            q = cnt[N_RARE]
            rare[q, 0] = code
            rare[q, 1] = body
            rare[q, 2] = length
            rare[q, 3] = wafer
            rare[q, 4] = offset
            cnt[N_RARE] = q + 1
        else:
            skipped[0, code] += 1
            if cnt[N_OPEN] > 0:
                skipped[1, code] += 1
                _issue(ISSUE_SKIPPED_IN_PART, offset, code, issue_cnt, issue_off, issue_rec)
        pos = end


@njit(cache=True)
def place_results(r_part, r_test, r_flag, r_value, cell_of_part, rank, factor, functional,
                  n_tests, out, flags, first_fail, seen):
    """Scatter results into the flat ``(wafer, die, test)`` arrays ``out`` and ``flags``.

    ``cell_of_part`` is ``wafer * n_die + die`` of a kept touchdown, -1 for a part not
    kept; values are scaled by ``factor`` (``10**RES_SCAL``); a result flagged invalid
    (TEST_FLG bit 1) or not executed (bit 4), or not finite, is NaN.  A ``functional``
    test (FTR) has no value, only its flag.  ``flags`` gets the tester's pass/fail:
    1 failed (TEST_FLG bit 7), 0 passed, left -1 when the test was not executed (bit 4)
    or its pass/fail flag is invalid (bit 6).  ``first_fail[cell]`` gets the rank of the
    first test (in record order) flagged failing on the touchdown.  Returns the counts
    of invalid results and of results repeating a test inside one part (the last wins).
    """
    invalid = 0
    repeated = 0
    for i in range(r_part.size):
        cell = cell_of_part[r_part[i]]
        if cell < 0:
            continue
        t = r_test[i]
        j = cell * n_tests + rank[t]
        flag = r_flag[i]
        if seen[j]:
            repeated += 1
        seen[j] = 1
        if (flag & 0x50) == 0:
            failed = (flag & 0x80) != 0
            flags[j] = 1 if failed else 0
            if failed and first_fail[cell] < 0:
                first_fail[cell] = rank[t]
        else:
            flags[j] = -1
        if functional[t]:
            continue
        v = np.float64(r_value[i]) * factor[t]
        if (flag & 0x12) != 0 or not np.isfinite(v):
            v = np.nan
            invalid += 1
        out[j] = v
    return invalid, repeated
