package overlay

// Win32 calls of the Windows helper that golang.org/x/sys/windows (v0.49.0)
// lacks. Regenerate zsyscall_windows.go with `go generate ./agent/overlay` on
// any OS.

//go:generate go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows.go mksyscall.go

//sys registerClassEx(wc *wndClassEx) (atom uint16, err error) = user32.RegisterClassExW
//sys createWindowEx(exStyle uint32, className *uint16, windowName *uint16, style uint32, x int32, y int32, width int32, height int32, parent windows.HWND, menu windows.Handle, instance windows.Handle, param uintptr) (hwnd windows.HWND, err error) = user32.CreateWindowExW
//sys destroyWindow(hwnd windows.HWND) (err error) = user32.DestroyWindow
//sys defWindowProc(hwnd windows.HWND, msg uint32, wparam uintptr, lparam uintptr) (ret uintptr) = user32.DefWindowProcW
//sys getMessage(msg *winMsg, hwnd windows.HWND, msgMin uint32, msgMax uint32) (ret int32, err error) [failretval==-1] = user32.GetMessageW
//sys translateMessage(msg *winMsg) (ok bool) = user32.TranslateMessage
//sys dispatchMessage(msg *winMsg) (ret uintptr) = user32.DispatchMessageW
//sys postMessage(hwnd windows.HWND, msg uint32, wparam uintptr, lparam uintptr) (err error) = user32.PostMessageW
//sys postQuitMessage(code int32) = user32.PostQuitMessage
//sys setWindowPos(hwnd windows.HWND, after windows.HWND, x int32, y int32, cx int32, cy int32, flags uint32) (err error) = user32.SetWindowPos
//sys showWindow(hwnd windows.HWND, cmd int32) (wasVisible bool) = user32.ShowWindow
//sys getSystemMetrics(index int32) (n int32) = user32.GetSystemMetrics
//sys beginPaint(hwnd windows.HWND, ps *paintStruct) (hdc windows.Handle) = user32.BeginPaint
//sys endPaint(hwnd windows.HWND, ps *paintStruct) (ok bool) = user32.EndPaint
//sys getClientRect(hwnd windows.HWND, r *windows.Rect) (err error) = user32.GetClientRect
//sys getWindowRect(hwnd windows.HWND, r *windows.Rect) (err error) = user32.GetWindowRect
//sys getWindowLong(hwnd windows.HWND, index int32) (v int32) = user32.GetWindowLongW
//sys drawText(hdc windows.Handle, text *uint16, n int32, r *windows.Rect, format uint32) (height int32) = user32.DrawTextW
//sys fillRect(hdc windows.Handle, r *windows.Rect, brush windows.Handle) (ok bool) = user32.FillRect
//sys frameRect(hdc windows.Handle, r *windows.Rect, brush windows.Handle) (ok bool) = user32.FrameRect
//sys invalidateRect(hwnd windows.HWND, r *windows.Rect, erase bool) (ok bool) = user32.InvalidateRect
//sys updateWindow(hwnd windows.HWND) (ok bool) = user32.UpdateWindow
//sys getDC(hwnd windows.HWND) (hdc windows.Handle) = user32.GetDC
//sys releaseDC(hwnd windows.HWND, hdc windows.Handle) (ok bool) = user32.ReleaseDC
//sys setTimer(hwnd windows.HWND, id uintptr, ms uint32, fn uintptr) (timer uintptr, err error) = user32.SetTimer
//sys isIconic(hwnd windows.HWND) (iconic bool) = user32.IsIconic
//sys killTimer(hwnd windows.HWND, id uintptr) (err error) = user32.KillTimer
//sys setForegroundWindow(hwnd windows.HWND) (ok bool) = user32.SetForegroundWindow
//sys loadCursor(instance windows.Handle, name uintptr) (cursor windows.Handle, err error) = user32.LoadCursorW
//sys setWindowsHookEx(idHook int32, fn uintptr, mod windows.Handle, threadID uint32) (hook windows.Handle, err error) = user32.SetWindowsHookExW
//sys unhookWindowsHookEx(hook windows.Handle) (err error) = user32.UnhookWindowsHookEx
//sys callNextHookEx(hook windows.Handle, code int32, wparam uintptr, lparam uintptr) (ret uintptr) = user32.CallNextHookEx
//sys setLayeredWindowAttributes(hwnd windows.HWND, key uint32, alpha byte, flags uint32) (err error) = user32.SetLayeredWindowAttributes
//sys setProcessDPIAware() (ok bool) = user32.SetProcessDPIAware
//sys findWindow(className *uint16, windowName *uint16) (hwnd windows.HWND) = user32.FindWindowW
//sys sendInput(n uint32, inputs unsafe.Pointer, size int32) (sent uint32, err error) = user32.SendInput
//sys createSolidBrush(color uint32) (brush windows.Handle) = gdi32.CreateSolidBrush
//sys createFont(height int32, width int32, escapement int32, orientation int32, weight int32, italic uint32, underline uint32, strikeOut uint32, charSet uint32, outPrecision uint32, clipPrecision uint32, quality uint32, pitchAndFamily uint32, face *uint16) (font windows.Handle) = gdi32.CreateFontW
//sys deleteObject(obj windows.Handle) (ok bool) = gdi32.DeleteObject
//sys selectObject(hdc windows.Handle, obj windows.Handle) (prev windows.Handle) = gdi32.SelectObject
//sys setTextColor(hdc windows.Handle, color uint32) (prev uint32) = gdi32.SetTextColor
//sys setBkMode(hdc windows.Handle, mode int32) (prev int32) = gdi32.SetBkMode
//sys getDeviceCaps(hdc windows.Handle, index int32) (n int32) = gdi32.GetDeviceCaps
//sys getLastInputInfo(info *lastInputInfo) (err error) = user32.GetLastInputInfo
//sys getKeyState(vk int32) (state uint16) = user32.GetKeyState
//sys getAsyncKeyState(vk int32) (state uint16) = user32.GetAsyncKeyState
//sys getTickCount() (ms uint32) = kernel32.GetTickCount
