// A read-only operator (role "viewer") reads every operator page and changes nothing: the
// pages are rendered inside <ReadOnly.Provider value={true}>, where every <Form> renders
// nothing (unless marked `read`, a search or filter) and <Write> hides what it wraps. The
// server refuses the writes anyway (403); this keeps buttons that could only fail off screen.
import { createContext } from "preact";
import { useContext } from "preact/hooks";

export const ReadOnly = createContext(false);

export function useReadOnly() {
  return useContext(ReadOnly);
}

export function Write({ children }) {
  return useReadOnly() ? null : children;
}
