// Types for duplex.js, the browser client of the Duplex protocol version 1
// (docs/protocol.md). Field names follow the wire where they are wire data
// (ClientInfo, presence, history results) and camelCase where the client
// builds the object (event contexts, options).

/** Version of the client library, sent in connect.version. */
export declare const VERSION: string;

/** Codes carried by DuplexError: 1-4 raised by the client, 100-112 answered by the server. */
export declare const ErrorCodes: {
  readonly timeout: 1;
  readonly connectionClosed: 2;
  readonly clientDisconnected: 3;
  readonly unsubscribed: 4;
  readonly internal: 100;
  readonly unauthorized: 101;
  readonly unknownChannel: 102;
  readonly permissionDenied: 103;
  readonly methodNotFound: 104;
  readonly alreadySubscribed: 105;
  readonly limitExceeded: 106;
  readonly badRequest: 107;
  readonly tokenExpired: 108;
  readonly tooManyRequests: 109;
  readonly notAvailable: 110;
  readonly notSubscribed: 111;
  readonly unrecoverablePosition: 112;
};

/**
 * Codes the client itself puts in connecting / disconnected / subscribing /
 * unsubscribed events. Other codes there are WebSocket close codes
 * (1000-1015), server disconnect codes (4000-4999) or unsubscribe codes
 * (2000-2999).
 */
export declare const StateCodes: {
  readonly called: 0;
  readonly connectTimeout: 1;
  readonly noPing: 2;
  readonly badMessage: 3;
  readonly transportError: 4;
  readonly tokenError: 5;
  readonly resubscribe: 6;
  readonly subscribeRetry: 7;
};

/** An error answered by the server or raised by the client for a command. */
export declare class DuplexError extends Error {
  constructor(code: number, message: string, temporary?: boolean);
  readonly name: 'DuplexError';
  /** One of ErrorCodes. */
  readonly code: number;
  /** Whether sending the same command again later may succeed. */
  readonly temporary: boolean;
}

/**
 * Delay in ms before reconnect attempt `attempt` (0-based): uniform in
 * [0, min(maxDelay, minDelay * 2^attempt)).
 */
export declare function reconnectDelay(attempt: number, minDelay: number, maxDelay: number, random?: () => number): number;

export type ClientState = 'disconnected' | 'connecting' | 'connected';
export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';

/** A place in a channel's stream. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** Who a connection is (wire object ClientInfo). */
export interface ClientInfo {
  /** Connection id. */
  client: string;
  /** User id; '' for anonymous. */
  user: string;
  /** The `info` claim of the subscription or connection token. */
  info?: unknown;
}

/** A publication, live or from history/recovery. */
export interface Publication<T = unknown> {
  channel: string;
  /** Absent only for publications sent with skip_history. */
  offset?: number;
  epoch?: string;
  data: T;
  /** The publisher, when a client published it. */
  info?: ClientInfo;
}

export interface PresenceResult {
  clients: Record<string, ClientInfo>;
}

export interface PresenceStatsResult {
  num_clients: number;
  num_users: number;
}

export interface PublishResult {
  /** Absent only for skip_history publications (HTTP API). */
  offset?: number;
  epoch?: string;
}

export interface HistoryOptions {
  /** Absent or -1: as many as allowed; 0: only the position; N: at most N. */
  limit?: number;
  /** Start after (or, with reverse, before) this position. */
  since?: StreamPosition;
  /** Newest first. */
  reverse?: boolean;
}

export interface HistoryResult<T = unknown> {
  publications: Publication<T>[];
  offset: number;
  epoch: string;
}

/** A function that fetches a connection token from the application's backend. '' or null means anonymous. */
export type GetToken = () => Promise<string | null | undefined>;

/** A function that fetches a subscription token for a channel. */
export type GetSubscriptionToken = (ctx: { channel: string }) => Promise<string | null | undefined>;

/** Anything constructible like the browser's WebSocket (for Node or tests). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
}

export interface ClientOptions {
  /** A connection token. Without getToken it is used for every connect. */
  token?: string;
  /** Called before connecting when no valid token is known, and to refresh an expiring one. */
  getToken?: GetToken;
  /** Client name sent in connect (default 'duplex-js'). */
  name?: string;
  /** Client version sent in connect (default VERSION). */
  version?: string;
  /** Application data sent in connect.data. */
  data?: unknown;
  /** Base of the reconnect backoff in ms (default 500). */
  minReconnectDelay?: number;
  /** Cap of the reconnect backoff in ms (default 20000). */
  maxReconnectDelay?: number;
  /** Timeout in ms for each command and for connecting (default 10000). */
  timeout?: number;
  /** WebSocket constructor to use instead of globalThis.WebSocket. */
  websocket?: new (url: string) => WebSocketLike;
}

export interface SubscriptionOptions {
  /** A subscription token (private channels). */
  token?: string;
  /** Called when a subscription token is needed or must be refreshed. */
  getToken?: GetSubscriptionToken;
  /** Ask for a presence snapshot in each subscribe result. */
  presence?: boolean;
  /** Application data sent in subscribe.data. */
  data?: unknown;
  /** Recover from this position on the first subscribe (e.g. one saved by the application). */
  since?: StreamPosition;
}

// ---- event contexts ----

export interface StateContext<S> {
  state: S;
  previous: S;
}

export interface SubscriptionStateContext extends StateContext<SubscriptionState> {
  channel: string;
}

export interface ConnectingContext {
  code: number;
  reason: string;
}

export interface ConnectedContext {
  client: string;
  user: string;
  version: string;
  proto: number;
  expires: boolean;
  ttl?: number;
}

export interface DisconnectedContext {
  /** 0 when disconnect() was called; otherwise a close or disconnect code (4500-4999: server said not to reconnect). */
  code: number;
  reason: string;
}

export type ErrorType =
  | 'transport'
  | 'connect'
  | 'token'
  | 'timeout'
  | 'protocol'
  | 'heartbeat'
  | 'refresh'
  | 'subscribe';

export interface ErrorContext {
  type: ErrorType;
  /** Set for subscription errors. */
  channel?: string;
  error: Error | DuplexError;
}

export interface SubscribedContext {
  channel: string;
  /**
   * The server keeps history for the channel: after a reconnect the client
   * recovers what it missed, or reports unrecoverable. When false, publications
   * missed while away are unknown and never reported.
   */
  recoverable: boolean;
  /** Missed publications were recovered; they follow as publication events. */
  recovered: boolean;
  /** Recovery was asked for (this is a resubscription). */
  wasRecovering: boolean;
  /** wasRecovering && !recovered: publications were missed for good; reload application state. */
  unrecoverable: boolean;
  offset: number;
  epoch: string;
  expires: boolean;
  ttl?: number;
  /** Presence snapshot, when asked for and available. */
  presence?: Record<string, ClientInfo>;
}

export interface UnrecoverableContext {
  channel: string;
  /** The position the client tried to recover from. */
  previous: StreamPosition | null;
  /** The stream's position now. */
  offset: number;
  epoch: string;
}

export interface SubscribingContext {
  code: number;
  reason: string;
}

export interface UnsubscribedContext {
  channel: string;
  /** 0 when unsubscribe() was called, 2000-2999 from the server, 100-112 for a failed subscribe. */
  code: number;
  reason: string;
}

export interface JoinLeaveContext {
  channel: string;
  info: ClientInfo;
}

export interface ClientEvents {
  state: StateContext<ClientState>;
  connecting: ConnectingContext;
  connected: ConnectedContext;
  disconnected: DisconnectedContext;
  error: ErrorContext;
  /** Publications of server-side subscriptions. */
  publication: Publication;
  join: JoinLeaveContext;
  leave: JoinLeaveContext;
  /** Server-side subscriptions. */
  subscribed: SubscribedContext;
  unsubscribed: UnsubscribedContext;
  unrecoverable: UnrecoverableContext;
}

export interface SubscriptionEvents<T = unknown> {
  state: SubscriptionStateContext;
  subscribing: SubscribingContext;
  subscribed: SubscribedContext;
  unsubscribed: UnsubscribedContext;
  /** Emitted before `subscribed` when a resubscription could not recover. */
  unrecoverable: UnrecoverableContext;
  publication: Publication<T>;
  join: JoinLeaveContext;
  leave: JoinLeaveContext;
  error: ErrorContext;
}

declare class Emitter<E> {
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: (ctx: E[K]) => void): () => void;
  /** Adds a listener that runs once; returns a function that removes it. */
  once<K extends keyof E>(event: K, listener: (ctx: E[K]) => void): () => void;
  /** Removes a listener. */
  off<K extends keyof E>(event: K, listener: (ctx: E[K]) => void): void;
}

/** A connection to a Duplex server that reconnects by itself. */
export declare class DuplexClient extends Emitter<ClientEvents> {
  constructor(url: string, options?: ClientOptions);
  readonly url: string;
  readonly state: ClientState;
  /** Connection id from the server; '' until connected. */
  readonly clientId: string;
  /** User id from the server; '' for anonymous. */
  readonly user: string;
  /** Starts connecting; no-op unless disconnected. */
  connect(): void;
  /** Closes and stops reconnecting; subscriptions resume on the next connect(). */
  disconnect(): void;
  /** Resolves once connected; rejects on timeout or disconnect. */
  ready(timeoutMs?: number): Promise<void>;
  /** Creates a subscription; throws if one exists for the channel. */
  newSubscription<T = unknown>(channel: string, options?: SubscriptionOptions): Subscription<T>;
  getSubscription<T = unknown>(channel: string): Subscription<T> | null;
  subscriptions(): Subscription[];
  /** Unsubscribes and forgets the subscription. */
  removeSubscription(sub: Subscription<any>): void;
  publish(channel: string, data: unknown): Promise<PublishResult>;
  presence(channel: string): Promise<PresenceResult>;
  presenceStats(channel: string): Promise<PresenceStatsResult>;
  history<T = unknown>(channel: string, options?: HistoryOptions): Promise<HistoryResult<T>>;
  ping(): Promise<void>;
}

/** A channel subscription. */
export declare class Subscription<T = unknown> extends Emitter<SubscriptionEvents<T>> {
  private constructor();
  readonly channel: string;
  readonly state: SubscriptionState;
  /** Offset of the last publication seen; null before the first subscribe. */
  readonly offset: number | null;
  /** Epoch of the followed stream; null before the first subscribe. */
  readonly epoch: string | null;
  readonly recoverable: boolean;
  /** Starts subscribing; no-op unless unsubscribed. */
  subscribe(): void;
  /** Unsubscribes; a later subscribe() starts from the live stream. */
  unsubscribe(): void;
  /** Resolves once subscribed; rejects on timeout or unsubscribe. */
  ready(timeoutMs?: number): Promise<void>;
  publish(data: T): Promise<PublishResult>;
  presence(): Promise<PresenceResult>;
  presenceStats(): Promise<PresenceStatsResult>;
  history(options?: HistoryOptions): Promise<HistoryResult<T>>;
}
