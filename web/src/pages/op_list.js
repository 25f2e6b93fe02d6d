// A management API list the operator pages load, reload after a change, and show errors of.
import { useEffect, useState } from "preact/hooks";
import { adminApi } from "../api.js";

export function useAdminList(path) {
  const [data, setData] = useState(null);
  const [error, setError] = useState("");
  const load = () =>
    adminApi("GET", path).then(
      (d) => (setData(d), setError("")),
      (e) => setError(e.message),
    );
  useEffect(() => {
    load();
  }, [path]);
  return [data, load, error];
}

export function localTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}
