// The TypeScript client's flow (scripts/api-contract typescript): openapi-fetch typed by
// the `paths` openapi-typescript generated from the served /openapi.json (generated/, not
// committed). Log in, an object's whole life (create, list with and without a filter, get,
// update, trash, restore, purge), a user, a group, an access token and a call made with it,
// and a lifecycle task (a transition asked twice with one Idempotency-Key, read back,
// listed). Exits non-zero naming the step that failed.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type Schemas = components["schemas"];
// Node's globals, without @types/node.
declare const process: { env: Record<string, string | undefined>; exit(code: number): never };

const base = process.env.DAAS_URL ?? "";
const tag = `flow-ts-${Math.random().toString(16).slice(2, 10)}`;

/** The answer's data when it has `status`, else a failure naming the step. */
function expect<T>(step: string, status: number, r: { data?: T; error?: unknown; response: Response }): T {
  if (r.response.status !== status) {
    throw new Error(`${step}: HTTP ${r.response.status}, expected ${status}: ${JSON.stringify(r.error ?? r.data)}`);
  }
  return r.data as T;
}
function check(step: string, ok: boolean, detail: unknown): void {
  if (!ok) throw new Error(`${step}: ${JSON.stringify(detail)}`);
}

async function main(): Promise<void> {
  const anon = createClient<paths>({ baseUrl: base });
  const login = expect("log in", 200, await anon.POST("/api/v1/auth/token", {
    body: { username: process.env.DAAS_USER ?? "", password: process.env.DAAS_PASSWORD ?? "" },
  }));
  const api = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${login.token}` } });
  console.log("ok: log in");

  const newObject: Schemas["NewDaasObject"] = { os_type: tag, hw_cpus: 1 };
  const created: Schemas["DaasObject"] = expect("create an object", 201, await api.POST("/api/v1/db/objects", { body: newObject }));
  check("create an object", created.os_type === tag, created);
  const id = created.id;
  const path = { path: { id } };
  console.log(`ok: create an object (${id})`);

  const filtered = expect("list with a filter", 200, await api.GET("/api/v1/db/objects", {
    params: { query: { filter: [`os_type:${tag}`] } },
  }));
  check("list with a filter", filtered.items.length === 1 && filtered.items[0]?.id === id, filtered);
  console.log("ok: list with a filter");

  const seen: string[] = [];
  let cursor: string | undefined;
  do { // every page, without a filter
    const page = expect("list without a filter", 200, await api.GET("/api/v1/db/objects", {
      params: { query: cursor === undefined ? { limit: 500 } : { limit: 500, cursor } },
    }));
    seen.push(...page.items.map((o) => o.id));
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
  check("list without a filter", seen.includes(id), `${id} not among ${seen.length} objects`);
  console.log(`ok: list without a filter (${seen.length} objects)`);

  const got = expect("get", 200, await api.GET("/api/v1/db/objects/{id}", { params: path }));
  check("get", got.id === id && got.hw_cpus === 1, got);
  console.log("ok: get");

  const patch: Schemas["DaasObjectPatch"] = { hw_cpus: 2 };
  const updated = expect("update", 200, await api.PATCH("/api/v1/db/objects/{id}", { params: path, body: patch }));
  check("update", updated.hw_cpus === 2 && updated.os_type === tag, updated);
  console.log("ok: update");

  const trashFilter = { params: { query: { filter: [`os_type:${tag}`] } } };
  expect("trash", 204, await api.DELETE("/api/v1/db/objects/{id}", { params: path }));
  expect("get a trashed object", 404, await api.GET("/api/v1/db/objects/{id}", { params: path }));
  const trash = expect("list the trash", 200, await api.GET("/api/v1/db/trash/objects", trashFilter));
  check("list the trash", trash.items.map((o) => o.id).join() === id, trash);
  console.log("ok: trash");

  expect("restore", 204, await api.POST("/api/v1/db/trash/objects/{id}/restore", { params: path }));
  expect("get a restored object", 200, await api.GET("/api/v1/db/objects/{id}", { params: path }));
  console.log("ok: restore");

  expect("trash again", 204, await api.DELETE("/api/v1/db/objects/{id}", { params: path }));
  expect("purge", 204, await api.DELETE("/api/v1/db/trash/objects/{id}", { params: path }));
  const after = expect("list the trash after purge", 200, await api.GET("/api/v1/db/trash/objects", trashFilter));
  check("purge", after.items.length === 0, after);
  console.log("ok: purge");

  const newUser: Schemas["NewUser"] = { name: tag, password: "a long flow passphrase" };
  const user: Schemas["User"] = expect("create a user", 201, await api.POST("/api/v1/auth/users", { body: newUser }));
  check("create a user", user.name === tag, user);
  console.log(`ok: create a user (${user.id})`);

  const newGroup: Schemas["NewGroup"] = { name: tag };
  const group: Schemas["Group"] = expect("create a group", 201, await api.POST("/api/v1/auth/groups", { body: newGroup }));
  check("create a group", group.name === tag, group);
  console.log(`ok: create a group (${group.id})`);

  const newToken: Schemas["NewAccessToken"] = { description: tag };
  const createdToken = expect("create an access token", 201, await api.POST("/api/v1/auth/access-tokens", { body: newToken }));
  const accessToken: Schemas["AccessToken"] = createdToken.access_token;
  check("create an access token", accessToken.description === tag, accessToken);
  console.log(`ok: create an access token (${accessToken.id})`);

  const withToken = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${createdToken.token}` } });
  const me = expect("use the access token", 200, await withToken.GET("/api/v1/auth/me"));
  check("use the access token", me.name === process.env.DAAS_USER && me.via === "access_token", me);
  expect("list with the access token", 200, await withToken.GET("/api/v1/db/objects", { params: { query: { limit: 1 } } }));
  console.log("ok: use the access token");

  // A transition of the demo's shared base image: 202 with the task; the same key answers
  // the same task (the contract's site runs no engine: the task then fails, a state too).
  const transition: Schemas["NewTransition"] = { transition: "clone_template", id_user: tag };
  const ask = { params: { path: { id: "demo-desktop-base" }, header: { "Idempotency-Key": tag } }, body: transition };
  const task: Schemas["Task"] = expect("ask a transition", 202, await api.POST("/api/v1/phases/objects/{id}/transitions", ask));
  check("ask a transition", task.kind === "clone_template", task);
  const again = expect("ask it again", 202, await api.POST("/api/v1/phases/objects/{id}/transitions", ask));
  check("ask it again", again.id === task.id, [again.id, task.id]);
  const read = expect("read the task", 200, await api.GET("/api/v1/phases/tasks/{id}", { params: { path: { id: task.id } } }));
  const states: Schemas["TaskState"][] = ["queued", "running", "succeeded", "failed", "cancelled"];
  check("read the task", read.id === task.id && states.includes(read.state), read);
  const listed = expect("list the tasks", 200, await api.GET("/api/v1/phases/tasks", { params: { query: { limit: 1000 } } }));
  check("list the tasks", listed.some((t) => t.id === task.id), `${task.id} not listed`);
  console.log(`ok: a lifecycle task (${task.id}, ${read.state})`);
}

main().then(
  () => console.log("typescript flow: every step passed"),
  (e: unknown) => {
    console.error(`FAILED: typescript flow: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
