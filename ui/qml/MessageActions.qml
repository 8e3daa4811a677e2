// The row under a message: stats, the version switcher and the actions that apply to it.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

RowLayout {
    id: actions
    property var message: null
    property bool shown: true
    spacing: 2

    readonly property bool assistant: message && message.author === "assistant"
    readonly property bool canAct: message ? message.actionable : false

    BranchSwitcher {
        visible: actions.message && actions.message.siblingCount > 1
        current: actions.message ? actions.message.siblingIndex : 1
        total: actions.message ? actions.message.siblingCount : 1
        enabled: actions.message && actions.message.chat && !actions.message.chat.busy
        onStep: (delta) => actions.message.chat.switchBranch(actions.message.index, delta)
    }

    Label {
        objectName: "messageStats"
        visible: actions.assistant && actions.message.stats.length > 0
        text: actions.message ? actions.message.stats : ""
        opacity: 0.65
        font.pointSize: Qt.application.font.pointSize * 0.85
        Accessible.name: qsTr("Statistics: %1").arg(text)
    }
    Label {
        objectName: "messageStopped"
        visible: actions.assistant && actions.message.status === "interrupted"
        text: qsTr("stopped")
        opacity: 0.65
        font.italic: true
        font.pointSize: Qt.application.font.pointSize * 0.85
        Accessible.name: qsTr("This reply was stopped before it ended")
    }

    Item { Layout.fillWidth: true; visible: actions.assistant }

    Row {
        opacity: actions.shown ? 1 : 0
        spacing: 2
        SmallButton {
            text: qsTr("Copy")
            accessibleName: qsTr("Copy message")
            enabled: actions.message && !actions.message.streaming
            onClicked: actions.message.chat.copyMessage(actions.message.index)
        }
        SmallButton {
            visible: actions.message && actions.message.isUser
            text: qsTr("Edit")
            accessibleName: qsTr("Edit message")
            enabled: actions.canAct
            onClicked: actions.message.editing = true
        }
        SmallButton {
            visible: actions.assistant
            text: qsTr("Regenerate")
            accessibleName: qsTr("Regenerate reply")
            enabled: actions.canAct
            onClicked: actions.message.chat.regenerate(actions.message.index)
        }
        SmallButton {
            visible: actions.assistant && actions.message.isLast
            text: qsTr("Continue")
            accessibleName: qsTr("Continue reply")
            enabled: actions.canAct
            onClicked: actions.message.chat.continueMessage(actions.message.index)
        }
    }
}
