/*
 * bcryptprimitives.dll for Wine 8.0, which lacks it: Go >= 1.24 Windows
 * binaries import ProcessPrng from it and die at start without it
 * ("fatal error: bcryptprimitives.dll not found"). ProcessPrng fills a buffer
 * with random bytes; this forwards to advapi32's SystemFunction036
 * (RtlGenRandom), in chunks because that takes a ULONG length.
 * Built by setup.sh; test-only, never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
