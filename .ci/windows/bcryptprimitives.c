/*
 * A stand-in bcryptprimitives.dll for Wine 8, used by .ci/lanes/windows.
 *
 * Rust's std on Windows gets its random bytes (HashMap's keys) from ProcessPrng in
 * bcryptprimitives.dll, which Wine 8.0 (Debian bookworm) does not have: without
 * it every test executable fails to load. This DLL exports ProcessPrng alone and
 * forwards it to SystemFunction036 (RtlGenRandom, advapi32), which Wine has. The
 * lane builds it with mingw and drops it into the Wine prefix's system32; nothing
 * of it ships with corral.
 */
#include <windows.h>

/* RtlGenRandom: declared by ntsecapi.h under a macro; named directly here. */
__declspec(dllimport) BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* SystemFunction036 takes a ULONG length: feed it at most 1 GiB at a time. */
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    /* Like Windows' ProcessPrng: it does not fail. */
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
